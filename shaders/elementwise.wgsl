//! Index of an element-wise invocation in a dispatch that may be folded into two dimensions (snippet).

const ELEMENTWISE_WORKGROUP: u32 = 256u;

// Dispatches over more than 65535 workgroups are folded into (x, y); see `elementwise_groups` in src/kernels/mod.rs.
fn element_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * ELEMENTWISE_WORKGROUP;
}
