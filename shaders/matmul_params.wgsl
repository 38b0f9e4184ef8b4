//! The shape uniform of every matrix-multiply kernel; declared in src/kernels/matmul.rs (snippet).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,
    trans_b: u32,
    accumulate: u32,
    a_offset: u32,
    b_offset: u32,
    c_offset: u32,
    // 1: C = act(op(A) op(B) + bias), bias a row of n values at bias_offset (the dense layer's
    // epilogue, fused so that C is written once).
    epilogue: u32,
    act: u32,
    bias_offset: u32,
}

// The scalar epilogue: the value stored, given the bias of its column.
fn epilogue_of(value: f32, bias_value: f32) -> f32 {
    if (params.epilogue != 0u) {
        return activate(value + bias_value, params.act);
    }
    return value;
}
