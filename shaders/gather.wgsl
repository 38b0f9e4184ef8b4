//! Builds a batch on the GPU: rows of a resident u8 data set (packed in u32) picked by a permutation, scaled to [0, 1], or binarized x ~ Bernoulli(pixel) from Philox.
//! A data set larger than one binding lives in shards, one dispatch each: this one writes only the
//! rows whose image is in [first_image, first_image + images) and leaves the others alone.

struct GatherParams {
    rows: u32,
    dim: u32,
    perm_offset: u32,
    out_offset: u32,
    stream: u32,
    repeat: u32,
    first_image: u32,
    images: u32,
}

// 1: x ~ Bernoulli(pixel) (specialized at pipeline creation, so gray batches pay nothing for it).
override BINARIZE: u32 = 0u;
// 4 when dim % 4 == 0: each invocation writes four neighbouring pixels of one row, from one word
// of the data and one entry of the permutation (on lavapipe every load counts); else 1.
override PIXELS: u32 = 1u;

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(2) var<storage, read> data: array<u32>;
@group(0) @binding(3) var<storage, read> perm: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let first = element_index(gid, groups) * PIXELS;
    if (first >= params.rows * params.dim) {
        return;
    }
    let r = first / params.dim;
    let j0 = first % params.dim;
    // `repeat` consecutive rows show the same image (several draws per image).
    let image = perm[params.perm_offset + frame.batch_start + r / params.repeat];
    // Unsigned: images before the shard wrap around to large values.
    let local = image - params.first_image;
    if (local >= params.images) {
        return;
    }
    // The word of the first pixel; with PIXELS = 4 it holds all four (dim and j0 are multiples
    // of 4).
    let word = data[(local * params.dim + j0) >> 2u];
    for (var p = 0u; p < PIXELS; p++) {
        let i = first + p;
        let byte = local * params.dim + j0 + p;
        let value = (word >> ((byte & 3u) * 8u)) & 0xFFu;
        if (BINARIZE != 0u) {
            let one = philox_bernoulli_byte(frame_key(), i, frame.step, params.stream, value);
            out[params.out_offset + i] = select(0.0, 1.0, one);
        } else {
            out[params.out_offset + i] = f32(value) / 255.0;
        }
    }
}
