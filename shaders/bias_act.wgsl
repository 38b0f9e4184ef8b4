//! In place x = act(x + bias) over a rows x cols matrix (forward of a dense layer's epilogue).

struct BiasActParams {
    rows: u32,
    cols: u32,
    act: u32,
    x_offset: u32,
    bias_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: BiasActParams;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn bias_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.rows * params.cols) {
        return;
    }
    let at = params.x_offset + i;
    x[at] = activate(x[at] + bias[params.bias_offset + i % params.cols], params.act);
}
