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
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}
