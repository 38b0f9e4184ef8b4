//! The shape uniform of every matrix-multiply kernel; declared in src/kernels/matmul.rs (snippet).

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    a_offset: u32,
    b_offset: u32,
    c_offset: u32,
    // Where the epilogue's operand is (see EPILOGUE).
    bias_offset: u32,
    _pad0: u32,
}

// What a store does, fixed per pipeline: lavapipe runs both sides of every branch under a lane
// mask, uniform or not, so with these in the shape uniform every store paid for every epilogue
// and every activation (loads and stores included); as overrides, a pipeline holds its own only.
//
// ACCUMULATE != 0: C += op(A) op(B) (never with an epilogue).
override ACCUMULATE: u32 = 0u;
// EPILOGUE_BIAS_ACT: C = act(op(A) op(B) + bias), bias a row of n values at bias_offset (the
// dense layer's forward, fused so that C is written once). EPILOGUE_SLOPE: C = op(A) op(B) *
// act'(y), y an m x n matrix at bias_offset (the backward through the activation of the layer
// below, whose output y is). EPILOGUE_ROW_SUMS (TN products only): C as without, and also
// sum_p op(A)[i, p] for every row i of C, stored through c's binding at bias_offset (a dense
// layer's bias gradient, summed from the same loads as its weight gradient). 0: none.
override EPILOGUE: u32 = 0u;
// The activation code (src/kernels/activation.rs) of EPILOGUE_BIAS_ACT and EPILOGUE_SLOPE.
override ACT: u32 = 0u;
// 1: A is stored k x m (op(A) = A^T); 1: B is stored n x k. Read by the scalar and tiled
// kernels, where both ways of loading ran on lavapipe while they were uniform fields; the vec4
// and subgroup kernels have an entry point per pair.
override TRANS_A: u32 = 0u;
override TRANS_B: u32 = 0u;

const EPILOGUE_BIAS_ACT: u32 = 1u;
const EPILOGUE_SLOPE: u32 = 2u;
const EPILOGUE_ROW_SUMS: u32 = 3u;

// Whether the epilogue changes the values stored in C (the row sums do not).
fn epilogue_in_store() -> bool {
    return EPILOGUE == EPILOGUE_BIAS_ACT || EPILOGUE == EPILOGUE_SLOPE;
}

// The scalar epilogue: the value stored, given the epilogue's operand at its place.
fn epilogue_of(value: f32, operand: f32) -> f32 {
    if (EPILOGUE == EPILOGUE_BIAS_ACT) {
        return activate(value + operand, ACT);
    }
    if (EPILOGUE == EPILOGUE_SLOPE) {
        return value * slope_from_output(operand, ACT);
    }
    return value;
}

// Where the epilogue's operand of element (row, col) of C is, in elements of its binding (col
// counts vec4s in the vec4 kernels, and width is then n / 4): a bias by column, y by element.
fn epilogue_index(row: u32, col: u32, width: u32) -> u32 {
    if (EPILOGUE == EPILOGUE_SLOPE) {
        return params.bias_offset + row * width + col;
    }
    return params.bias_offset + col;
}
