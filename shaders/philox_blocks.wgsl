//! Raw Philox4x32-10 blocks for given counters and key: lets tests hold the WGSL RNG to the Rust one bit for bit.

struct PhiloxBlocksParams {
    count: u32,
    key_lo: u32,
    key_hi: u32,
    counters_offset: u32,
    blocks_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: PhiloxBlocksParams;
@group(0) @binding(2) var<storage, read> counters: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> blocks: array<vec4<u32>>;

@compute @workgroup_size(256)
fn philox_blocks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = element_index(gid, groups);
    if (i >= params.count) {
        return;
    }
    blocks[params.blocks_offset + i] = philox4x32_10(counters[params.counters_offset + i], vec2<u32>(params.key_lo, params.key_hi));
}
