//! The statistics `vae-gpu score` reports, from the judge's outputs on the host in f64: the
//! Fréchet distance between Gaussians fitted to two sets of features, the confidence score
//! (Inception-Score form), and the share of images in each class.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance (divided by n − 1) of n feature rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub covariance: DMatrix<f64>,
    pub count: usize,
}

impl Gaussian {
    /// Fits `features` (n rows of `dim` values, n ≥ 2) in f64.
    pub fn fit(features: &[f32], dim: usize) -> Self {
        assert!(
            dim > 0 && features.len() % dim == 0,
            "features are rows of {dim}"
        );
        let n = features.len() / dim;
        assert!(n >= 2, "a covariance needs at least two rows");
        let mut mean = DVector::<f64>::zeros(dim);
        for row in features.chunks(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        mean /= n as f64;
        // Centred rows into one matrix, then one product: Σ = XᵀX / (n − 1).
        let centred =
            DMatrix::<f64>::from_fn(n, dim, |r, c| f64::from(features[r * dim + c]) - mean[c]);
        let covariance = centred.tr_mul(&centred) / (n as f64 - 1.0);
        Self {
            mean,
            covariance,
            count: n,
        }
    }
}

/// The square root of a symmetric positive semi-definite matrix, from its eigendecomposition
/// (eigenvalues below 0, which rounding makes, clamped to 0).
fn symmetric_sqrt(a: &DMatrix<f64>) -> DMatrix<f64> {
    let eigen = SymmetricEigen::new(symmetrized(a));
    let roots = eigen.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

/// (A + Aᵀ)/2: removes the rounding asymmetry of a product that should be symmetric.
fn symmetrized(a: &DMatrix<f64>) -> DMatrix<f64> {
    (a + a.transpose()) * 0.5
}

/// ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½), with Tr((Σ₁Σ₂)^½) computed as Tr((Σ₁^½ Σ₂ Σ₁^½)^½):
/// Σ₁Σ₂ is not symmetric, Σ₁^½ Σ₂ Σ₁^½ is, and has the same eigenvalues.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(a.mean.len(), b.mean.len(), "feature sizes differ");
    let mean_term = (&a.mean - &b.mean).norm_squared();
    let root_a = symmetric_sqrt(&a.covariance);
    let middle = symmetrized(&(&root_a * &b.covariance * &root_a));
    let cross: f64 = SymmetricEigen::new(middle)
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0).sqrt())
        .sum();
    let distance = mean_term + a.covariance.trace() + b.covariance.trace() - 2.0 * cross;
    // Rounding can take a distance of two equal sets a hair below 0.
    distance.max(0.0)
}

/// exp(E_x KL(p(y|x) ‖ p(y))), with p(y) the mean of p(y|x) over the set: between 1 (every image
/// gets the same class distribution) and the number of classes (confident and evenly spread).
pub fn confidence_score(probs: &[f32], classes: usize) -> f64 {
    let rows: Vec<&[f32]> = probs.chunks(classes).collect();
    let n = rows.len() as f64;
    let mut marginal = vec![0.0f64; classes];
    for row in &rows {
        for (m, &p) in marginal.iter_mut().zip(*row) {
            *m += f64::from(p) / n;
        }
    }
    let mean_kl: f64 = rows
        .iter()
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|(&p, _)| p > 0.0)
                .map(|(&p, &m)| f64::from(p) * (f64::from(p).ln() - m.ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    mean_kl.exp()
}

/// The class the judge gives each row (the most probable; the lowest index on a tie).
pub fn predicted_classes(probs: &[f32], classes: usize) -> Vec<usize> {
    probs
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (j, &p)| {
                    if p > best.1 {
                        (j, p)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

/// The share of `classes` each class has among `assigned`.
pub fn class_shares(assigned: &[usize], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes];
    for &c in assigned {
        counts[c] += 1;
    }
    let n = assigned.len().max(1) as f64;
    counts.into_iter().map(|c| c as f64 / n).collect()
}

/// The class whose share falls furthest below its reference share, and by how much (0 when no
/// class falls short).
pub fn largest_shortfall(shares: &[f64], reference: &[f64]) -> (usize, f64) {
    shares
        .iter()
        .zip(reference)
        .map(|(s, r)| (r - s).max(0.0))
        .enumerate()
        .fold(
            (0, 0.0),
            |best, (c, gap)| if gap > best.1 { (c, gap) } else { best },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::PhiloxStream;

    fn normal_rows(n: usize, dim: usize, seed: u64, scale: &[f64], shift: f64) -> Vec<f32> {
        let mut stream = PhiloxStream::new(seed, 9);
        (0..n * dim)
            .map(|i| {
                // Box–Muller from two uniforms in (0, 1].
                let (u, v) = (f64::from(stream.next_unit()), f64::from(stream.next_unit()));
                let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                (z * scale[i % dim] + shift) as f32
            })
            .collect()
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself_and_the_distance_is_symmetric() {
        let dim = 6;
        let a = Gaussian::fit(
            &normal_rows(500, dim, 1, &[1.0, 2.0, 0.5, 1.0, 3.0, 0.1], 0.0),
            dim,
        );
        let b = Gaussian::fit(&normal_rows(400, dim, 2, &[1.5; 6], 0.3), dim);
        assert!(
            frechet_distance(&a, &a) < 1e-9,
            "{}",
            frechet_distance(&a, &a)
        );
        let (ab, ba) = (frechet_distance(&a, &b), frechet_distance(&b, &a));
        assert!(ab > 0.1);
        assert!((ab - ba).abs() < 1e-9 * ab, "{ab} vs {ba}");
    }

    #[test]
    fn one_dimension_and_diagonal_covariances_have_closed_forms() {
        // In 1-D: (μ₁ − μ₂)² + (σ₁ − σ₂)²; with diagonal covariances, the sum of that per axis.
        let one = |mean: f64, var: f64| Gaussian {
            mean: DVector::from_vec(vec![mean]),
            covariance: DMatrix::from_vec(1, 1, vec![var]),
            count: 2,
        };
        let d = frechet_distance(&one(1.0, 4.0), &one(-2.0, 9.0));
        assert!((d - (9.0 + 1.0)).abs() < 1e-12, "{d}");
        let diag = |mean: Vec<f64>, var: Vec<f64>| Gaussian {
            mean: DVector::from_vec(mean),
            covariance: DMatrix::from_diagonal(&DVector::from_vec(var)),
            count: 2,
        };
        let (va, vb) = (vec![1.0, 0.25, 16.0], vec![4.0, 1.0, 1.0]);
        let expected: f64 = 0.0
            + va.iter()
                .zip(&vb)
                .map(|(a, b): (&f64, &f64)| (a.sqrt() - b.sqrt()).powi(2))
                .sum::<f64>();
        let d = frechet_distance(&diag(vec![0.0; 3], va), &diag(vec![0.0; 3], vb));
        assert!((d - expected).abs() < 1e-12, "{d} vs {expected}");
    }

    /// Against a computation that never forms Σ₁^½: the eigenvalues of the non-symmetric Σ₁Σ₂
    /// from its Schur form (they are real and ≥ 0, those of Σ₁^½Σ₂Σ₁^½).
    #[test]
    fn the_distance_matches_a_direct_computation_on_small_random_matrices() {
        for (dim, seed) in [(2, 3), (5, 4), (9, 5)] {
            let a = Gaussian::fit(&normal_rows(40, dim, seed, &vec![1.0; dim], 0.0), dim);
            let mut rows_b = normal_rows(30, dim, seed + 10, &vec![2.0; dim], 1.0);
            // Correlate b's columns so that the covariances do not commute.
            for row in rows_b.chunks_mut(dim) {
                row[dim - 1] += 0.8 * row[0];
            }
            let b = Gaussian::fit(&rows_b, dim);
            let product = &a.covariance * &b.covariance;
            let cross: f64 = product
                .complex_eigenvalues()
                .iter()
                .map(|e| e.re.max(0.0).sqrt())
                .sum();
            let direct =
                (&a.mean - &b.mean).norm_squared() + a.covariance.trace() + b.covariance.trace()
                    - 2.0 * cross;
            let ours = frechet_distance(&a, &b);
            assert!(
                (ours - direct).abs() < 1e-9 * direct.max(1.0),
                "dim {dim}: {ours} vs {direct}"
            );
        }
    }

    #[test]
    fn the_fit_is_the_sample_mean_and_unbiased_covariance() {
        let rows = [1.0f32, 2.0, 3.0, 6.0, 5.0, 4.0];
        let g = Gaussian::fit(&rows, 2);
        assert_eq!(g.mean.as_slice(), &[3.0, 4.0]);
        // Deviations (−2, −2), (0, 2), (2, 0): Σ = [[8, 4], [4, 8]] / 2.
        assert_eq!(g.covariance.as_slice(), &[4.0, 2.0, 2.0, 4.0]);
    }

    #[test]
    fn the_confidence_score_spans_one_to_the_class_count() {
        let uniform = vec![0.25f32; 4 * 8];
        assert!((confidence_score(&uniform, 4) - 1.0).abs() < 1e-12);
        let one_class: Vec<f32> = (0..8).flat_map(|_| [1.0, 0.0, 0.0, 0.0]).collect();
        assert!((confidence_score(&one_class, 4) - 1.0).abs() < 1e-12);
        let spread: Vec<f32> = (0..8)
            .flat_map(|i| {
                let mut row = [0.0f32; 4];
                row[i % 4] = 1.0;
                row
            })
            .collect();
        assert!((confidence_score(&spread, 4) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn shares_and_the_largest_shortfall() {
        let probs = [0.1f32, 0.9, 0.8, 0.2, 0.3, 0.7, 0.5, 0.5];
        let assigned = predicted_classes(&probs, 2);
        assert_eq!(assigned, vec![1, 0, 1, 0]);
        let shares = class_shares(&[1, 1, 1, 0], 2);
        assert_eq!(shares, vec![0.25, 0.75]);
        assert_eq!(largest_shortfall(&shares, &[0.5, 0.5]), (0, 0.25));
        assert_eq!(largest_shortfall(&[0.5, 0.5], &[0.5, 0.5]), (0, 0.0));
    }
}
