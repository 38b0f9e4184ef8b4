//! Reference of `shaders/gather.wgsl`: a batch built from a resident u8 data set.

/// Packs bytes little-endian into u32 words, the layout the gather kernel reads.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect()
}

/// `out[r, :] = image perm[start + r] of `data`, scaled to [0, 1]`.
pub fn gather(data: &[u32], perm: &[u32], start: usize, out: &mut [f32], rows: usize, dim: usize) {
    for r in 0..rows {
        let image = perm[start + r] as usize;
        for j in 0..dim {
            let byte = image * dim + j;
            let value = (data[byte / 4] >> ((byte % 4) * 8)) & 0xff;
            out[r * dim + j] = value as f32 / 255.0;
        }
    }
}
