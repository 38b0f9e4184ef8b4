//! In place grad *= act'(.), the slope taken from the layer's stored output y.

struct BiasActBackwardParams {
    count: u32,
    act: u32,
    grad_offset: u32,
    y_offset: u32,
}

@group(0) @binding(0) var<uniform> params: BiasActBackwardParams;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

@compute @workgroup_size(256)
fn bias_act_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.count) {
        return;
    }
    let at = params.grad_offset + i;
    grad[at] = grad[at] * slope_from_output(y[params.y_offset + i], params.act);
}
