//! Reference of `shaders/matmul*.wgsl`: C = op(A)·op(B) (+ C).

/// `c[m×n] = op(a)·op(b) (+ c if accumulate)`; `a` is m×k (k×m if `trans_a`), `b` is k×n (n×k if
/// `trans_b`), all row-major and contiguous.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    m: usize,
    n: usize,
    k: usize,
    trans_a: bool,
    trans_b: bool,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let a_at = |i: usize, p: usize| if trans_a { a[p * m + i] } else { a[i * k + p] };
    let b_at = |p: usize, j: usize| if trans_b { b[j * k + p] } else { b[p * n + j] };
    for i in 0..m {
        for j in 0..n {
            let mut sum = if accumulate {
                f64::from(c[i * n + j])
            } else {
                0.0
            };
            for p in 0..k {
                sum += f64::from(a_at(i, p)) * f64::from(b_at(p, j));
            }
            c[i * n + j] = sum as f32;
        }
    }
}
