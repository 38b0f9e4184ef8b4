//! The loss sums of a batch in one dispatch: workgroup 0 sums the per-row reconstruction losses,
//! workgroup 1 the per-row KLs, each with sum_into's tree (workgroup_total.wgsl: the same bits), then sets its
//! step slot (when there is one) and adds to its running slot of `metrics`.

struct LossSumsParams {
    count: u32,
    bce_offset: u32,
    kl_offset: u32,
    metrics_offset: u32,
    // Slots in `metrics`: (reconstruction, KL) of the step's sums and of the running ones;
    // NO_SLOT: none.
    step_bce: u32,
    step_kl: u32,
    running_bce: u32,
    running_kl: u32,
}

const NO_SLOT: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: LossSumsParams;
@group(0) @binding(2) var<storage, read> bce: array<f32>;
@group(0) @binding(3) var<storage, read> kl: array<f32>;
@group(0) @binding(4) var<storage, read_write> metrics: array<f32>;

@compute @workgroup_size(SUM_WORKGROUP)
fn loss_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let is_kl = wid.x == 1u;
    var sum = 0.0;
    for (var i = lid; i < params.count; i += SUM_WORKGROUP) {
        if (is_kl) {
            sum += kl[params.kl_offset + i];
        } else {
            sum += bce[params.bce_offset + i];
        }
    }
    let total = workgroup_total(lid, sum);
    if (lid == 0u) {
        let step = select(params.step_bce, params.step_kl, is_kl);
        let running = select(params.running_bce, params.running_kl, is_kl);
        if (step != NO_SLOT) {
            metrics[params.metrics_offset + step] = 0.0 + total;
        }
        if (running != NO_SLOT) {
            metrics[params.metrics_offset + running] += total;
        }
    }
}
