//! Activations of a dense layer and their slopes written from the output; codes as in src/kernels/activation.rs (snippet).

const ACT_IDENTITY: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_TANH: u32 = 3u;
const ACT_SIGMOID: u32 = 4u;
const ACT_CONTINUOUS_BERNOULLI_MEAN: u32 = 5u;
const LEAKY_RELU_SLOPE: f32 = 0.01;
// tanh(20) is 1 in f32; clamping keeps drivers that build tanh from exp away from inf/inf.
const TANH_CLAMP: f32 = 20.0;

fn stable_sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// One value through the four-value forms below, so that each activation is written once.
fn activate(v: f32, act: u32) -> f32 {
    return activate4(vec4<f32>(v), act).x;
}

fn slope_from_output(y: f32, act: u32) -> f32 {
    return slope4(vec4<f32>(y), act).x;
}

// Activations and their slopes (taken from the output) on four values with one switch: the
// matmul kernels inline their store 32 times, and a switch per component doubled lavapipe's
// compile time. NaN is passed on, so that a diverging run shows as NaN (max(NaN, 0) may be 0);
// it is read from the bits, as a driver may fold float comparisons with NaN away.
fn activate4(v: vec4<f32>, act: u32) -> vec4<f32> {
    var y = v;
    switch act {
        case ACT_RELU: { y = max(v, vec4<f32>(0.0)); }
        case ACT_LEAKY_RELU: { y = select(LEAKY_RELU_SLOPE * v, v, v > vec4<f32>(0.0)); }
        case ACT_TANH: { y = tanh(clamp(v, vec4<f32>(-TANH_CLAMP), vec4<f32>(TANH_CLAMP))); }
        case ACT_SIGMOID: {
            y = vec4<f32>(stable_sigmoid(v.x), stable_sigmoid(v.y), stable_sigmoid(v.z), stable_sigmoid(v.w));
        }
        case ACT_CONTINUOUS_BERNOULLI_MEAN: {
            y = vec4<f32>(cb_mean(v.x), cb_mean(v.y), cb_mean(v.z), cb_mean(v.w));
        }
        default: {}
    }
    let nan = (bitcast<vec4<u32>>(v) & vec4<u32>(0x7FFFFFFFu)) > vec4<u32>(0x7F800000u);
    return select(y, v, nan);
}

fn slope4(y: vec4<f32>, act: u32) -> vec4<f32> {
    switch act {
        case ACT_RELU: { return select(vec4<f32>(0.0), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case ACT_LEAKY_RELU: { return select(vec4<f32>(LEAKY_RELU_SLOPE), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case ACT_TANH: { return 1.0 - y * y; }
        case ACT_SIGMOID: { return y * (1.0 - y); }
        // An output-only activation (pictures of a continuous Bernoulli model): never trained through.
        case ACT_CONTINUOUS_BERNOULLI_MEAN: { return vec4<f32>(0.0); }
        default: { return vec4<f32>(1.0); }
    }
}
