//! The pictures of a trained model that people otherwise draw by hand: test images above their
//! reconstructions, walks in latent space between pairs of test images, the manifold a 2-D latent
//! (or two chosen dimensions) decodes to, and the test set's posterior means coloured by label.
//! Everything runs on the backend in chunks, is deterministic, and follows the data's image shape.

use std::path::Path;

use image::DynamicImage;

use crate::backend::{Backend, BackendError};
use crate::data::{binarized, Dataset};
use crate::image_grid::{picture_grid, stack_pictures, ImageShape};
use crate::model::{DeviceData, Vae};
use crate::ops::{Frame, View};
use crate::plots::{scatter_plot, PlotError};

use super::sample::{TrainedModel, GRID_PADDING};

/// Images per replay.
const CHUNK: usize = 1024;

/// (images as the model sees them, their reconstructions, posterior means), row after row.
type Encoded = (Vec<f32>, Vec<f32>, Vec<f32>);

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{0}")]
    Refused(String),
}

/// A trained model on the device with its data set resident (binarized as it was trained).
pub struct OnDevice<'a, B: Backend> {
    backend: &'a mut B,
    model: &'a TrainedModel,
    dataset: &'a Dataset,
    vae: Vae,
    data: DeviceData,
    perm: View,
}

impl<'a, B: Backend> OnDevice<'a, B> {
    pub fn new(
        backend: &'a mut B,
        model: &'a TrainedModel,
        dataset: &'a Dataset,
    ) -> Result<Self, PictureError> {
        if dataset.dim() != model.config.input_dim {
            return Err(PictureError::Refused(format!(
                "{} has images of {} pixels; the model takes {}",
                dataset.name,
                dataset.dim(),
                model.config.input_dim
            )));
        }
        let binary = model.metadata.get("binarize").is_some_and(|b| b != "none");
        let images = if binary {
            binarized(&dataset.images)
        } else {
            dataset.images.clone()
        };
        let data = DeviceData::upload(backend, &images, dataset.dim())?;
        let perm = backend.create_buffer("images", CHUNK)?;
        let vae = Vae::new(backend, model.config.clone(), CHUNK)?;
        vae.write_parameters(backend, &model.parameters);
        Ok(Self {
            backend,
            model,
            dataset,
            vae,
            data,
            perm: View::whole(perm, CHUNK),
        })
    }

    fn shape(&self) -> ImageShape {
        self.model.image
    }

    /// The test images' indices, the first `n` of them.
    fn test_images(&self, n: usize) -> Vec<u32> {
        let first = self.dataset.train_count as u32;
        (first..self.dataset.count() as u32).take(n).collect()
    }

    /// The images (as the model sees them), their reconstructions through the posterior mean,
    /// and the posterior means, of the data set's images `indices`.
    fn encode(&mut self, indices: &[u32]) -> Result<Encoded, BackendError> {
        let (mut inputs, mut outputs, mut means) = (Vec::new(), Vec::new(), Vec::new());
        let dim = self.model.config.input_dim;
        for chunk in indices.chunks(CHUNK) {
            let rows = chunk.len();
            self.backend.write_u32(self.perm.buffer, 0, chunk);
            let ops = self.vae.reconstruct(&self.data, self.perm, rows);
            let program = self.backend.prepare(&ops)?;
            self.backend.run(&program, &Frame::with_seed(0))?;
            inputs.extend(self.backend.read_f32(self.vae.input, 0, rows * dim)?);
            let output = self.vae.output(rows);
            outputs.extend(self.backend.read_f32(output.buffer, 0, output.len)?);
            let codes = self.vae.latent_codes(rows);
            means.extend(self.backend.read_f32(codes.buffer, 0, codes.len)?);
        }
        Ok((inputs, outputs, means))
    }

    /// The first `n` test images' reconstructions through the posterior mean (the likelihood's
    /// means, n × input_dim values).
    pub fn test_reconstructions(&mut self, n: usize) -> Result<Vec<f32>, BackendError> {
        let indices = self.test_images(n);
        Ok(self.encode(&indices)?.1)
    }

    /// The likelihood's means of the images decoded from `codes` (rows × latent).
    fn decode(&mut self, codes: &[f32]) -> Result<Vec<f32>, BackendError> {
        let latent = self.model.config.latent;
        let mut pixels = Vec::new();
        for chunk in codes.chunks(CHUNK * latent) {
            let rows = chunk.len() / latent;
            self.vae.write_latent_codes(self.backend, chunk);
            let program = self.backend.prepare(&self.vae.decode_given(rows))?;
            self.backend.run(&program, &Frame::with_seed(0))?;
            let output = self.vae.output(rows);
            pixels.extend(self.backend.read_f32(output.buffer, 0, output.len)?);
        }
        Ok(pixels)
    }

    /// The first `n` test images (top rows) above their reconstructions (bottom rows), `columns`
    /// to a row.
    pub fn reconstructions(
        &mut self,
        n: usize,
        columns: usize,
    ) -> Result<DynamicImage, PictureError> {
        let indices = self.test_images(n);
        let shown = indices.len();
        let (inputs, outputs, _) = self.encode(&indices)?;
        let shape = self.shape();
        let top = picture_grid(&inputs, shown, shape, columns, GRID_PADDING);
        let bottom = picture_grid(&outputs, shown, shape, columns, GRID_PADDING);
        Ok(stack_pictures(&top, &bottom))
    }

    /// `pairs` rows, each walking in `steps` steps from the posterior mean of one test image to
    /// that of the next (test images 2p and 2p + 1), linearly or along the great circle (slerp).
    pub fn interpolations(
        &mut self,
        pairs: usize,
        steps: usize,
        slerp: bool,
    ) -> Result<DynamicImage, PictureError> {
        let latent = self.model.config.latent;
        let indices = self.test_images(2 * pairs);
        if indices.len() < 2 * pairs {
            return Err(PictureError::Refused(format!(
                "--pairs {pairs} needs {} test images; the data has {}",
                2 * pairs,
                indices.len()
            )));
        }
        let (_, _, means) = self.encode(&indices)?;
        let mut codes = Vec::with_capacity(pairs * steps * latent);
        for pair in means.chunks(2 * latent) {
            let (a, b) = pair.split_at(latent);
            for s in 0..steps {
                let t = if steps > 1 {
                    s as f64 / (steps - 1) as f64
                } else {
                    0.0
                };
                codes.extend(between(a, b, t, slerp));
            }
        }
        let pixels = self.decode(&codes)?;
        Ok(picture_grid(
            &pixels,
            pairs * steps,
            self.shape(),
            steps,
            GRID_PADDING,
        ))
    }

    /// An n × n grid of decoded latent points: z1 (or dimension `dims.0`) from left to right and
    /// z2 (`dims.1`) from top to bottom, at Φ⁻¹ of evenly spaced probabilities in (0, 1)
    /// (Kingma & Welling 2014, figure 4). Other dimensions stay at the posterior mean of test
    /// image `around`, or at 0; with a latent of 2, the grid covers the whole prior.
    pub fn manifold(
        &mut self,
        n: usize,
        dims: (usize, usize),
        around: Option<usize>,
    ) -> Result<DynamicImage, PictureError> {
        let latent = self.model.config.latent;
        let (i, j) = dims;
        if i >= latent || j >= latent || i == j {
            return Err(PictureError::Refused(format!(
                "--dims {i},{j}: two different dimensions below the latent size {latent}"
            )));
        }
        let base = match around {
            None => vec![0.0f32; latent],
            Some(image) => {
                let indices = self.test_images(image + 1);
                if indices.len() <= image {
                    return Err(PictureError::Refused(format!(
                        "--around {image}: the data has {} test images",
                        indices.len()
                    )));
                }
                let (_, _, means) = self.encode(&indices[image..])?;
                means
            }
        };
        let quantile = |k: usize| inverse_normal_cdf((k as f64 + 0.5) / n as f64) as f32;
        let mut codes = Vec::with_capacity(n * n * latent);
        for row in 0..n {
            for column in 0..n {
                let mut z = base.clone();
                z[i] += quantile(column);
                z[j] += quantile(n - 1 - row);
                codes.extend(z);
            }
        }
        let pixels = self.decode(&codes)?;
        Ok(picture_grid(&pixels, n * n, self.shape(), n, GRID_PADDING))
    }

    /// The posterior means of the first `n` test images, coloured by label: the first two
    /// dimensions of a 2-D latent, else the first two principal components.
    pub fn latent_plot(&mut self, path: &Path, n: usize) -> Result<String, PictureError> {
        if !self.dataset.has_labels() {
            return Err(PictureError::Refused(format!(
                "{} has no labels: the latent picture colours points by label",
                self.dataset.name
            )));
        }
        let latent = self.model.config.latent;
        let indices = self.test_images(n);
        let (_, _, means) = self.encode(&indices)?;
        let labels: Vec<u8> = indices
            .iter()
            .map(|&i| self.dataset.labels[i as usize])
            .collect();
        let (points, axes, how): (Vec<(f64, f64)>, (String, String), String) = if latent == 1 {
            let points = means.iter().map(|&m| (f64::from(m), 0.0)).collect();
            (points, ("z1".to_string(), String::new()), "z1".to_string())
        } else if latent == 2 {
            let points = means
                .chunks(2)
                .map(|z| (f64::from(z[0]), f64::from(z[1])))
                .collect();
            (
                points,
                ("z1".to_string(), "z2".to_string()),
                "z1, z2".to_string(),
            )
        } else {
            let (components, shares) = principal_components(&means, latent);
            let project = |z: &[f32], c: &[f64]| -> f64 {
                z.iter().zip(c).map(|(&a, b)| f64::from(a) * b).sum()
            };
            let points = means
                .chunks(latent)
                .map(|z| (project(z, &components[0]), project(z, &components[1])))
                .collect();
            let axes = (
                format!("PC1 ({:.0}% of the variance)", 100.0 * shares[0]),
                format!("PC2 ({:.0}% of the variance)", 100.0 * shares[1]),
            );
            (
                points,
                axes,
                "the first two principal components".to_string(),
            )
        };
        let title = format!("Posterior means of {} test images, by label", indices.len());
        scatter_plot(path, &title, (&axes.0, &axes.1), &points, &labels)?;
        Ok(how)
    }
}

/// The point at `t` from `a` to `b`: on the line, or (slerp) on the great circle at the
/// interpolated norm, which keeps points as far from 0 as the prior puts them.
pub fn between(a: &[f32], b: &[f32], t: f64, slerp: bool) -> Vec<f32> {
    let lerp = |x: f32, y: f32| (f64::from(x) * (1.0 - t) + f64::from(y) * t) as f32;
    if !slerp {
        return a.iter().zip(b).map(|(&x, &y)| lerp(x, y)).collect();
    }
    let norm = |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    let omega = (dot / (na * nb).max(1e-12)).clamp(-1.0, 1.0).acos();
    if omega.sin().abs() < 1e-6 {
        return a.iter().zip(b).map(|(&x, &y)| lerp(x, y)).collect();
    }
    let (wa, wb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (wa * f64::from(x) + wb * f64::from(y)) as f32)
        .collect()
}

/// Φ⁻¹(p), the standard normal quantile, for p in (0, 1) (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The two leading eigenvectors of the covariance of `rows` (each `dim` long), by power
/// iteration with deflation in f64, and the shares of the total variance they carry.
pub fn principal_components(rows: &[f32], dim: usize) -> ([Vec<f64>; 2], [f64; 2]) {
    let n = (rows.len() / dim).max(1) as f64;
    let mut mean = vec![0.0; dim];
    for row in rows.chunks(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v) / n;
        }
    }
    let mut cov = vec![0.0; dim * dim];
    for row in rows.chunks(dim) {
        for a in 0..dim {
            for b in 0..dim {
                cov[a * dim + b] +=
                    (f64::from(row[a]) - mean[a]) * (f64::from(row[b]) - mean[b]) / n;
            }
        }
    }
    let total: f64 = (0..dim).map(|a| cov[a * dim + a]).sum::<f64>().max(1e-300);
    let mut components = [vec![0.0; dim], vec![0.0; dim]];
    let mut shares = [0.0; 2];
    for (k, component) in components.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..dim)
            .map(|i| 1.0 + (i * 7 + k * 3) as f64 % 5.0)
            .collect();
        let mut value = 0.0;
        for _ in 0..500 {
            let w: Vec<f64> = (0..dim)
                .map(|a| (0..dim).map(|b| cov[a * dim + b] * v[b]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            value = norm;
            v = w.iter().map(|x| x / norm).collect();
        }
        // Deflate: the next component is the leading one of what is left.
        for a in 0..dim {
            for b in 0..dim {
                cov[a * dim + b] -= value * v[a] * v[b];
            }
        }
        shares[k] = value / total;
        *component = v;
    }
    (components, shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_normal_cdf_hits_known_quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.025, -1.959_963_984_540_054),
            (0.841_344_746_068_543, 1.0),
            (1e-6, -4.753_424_308_822_899),
        ] {
            assert!((inverse_normal_cdf(p) - z).abs() < 1e-8, "Φ⁻¹({p})");
        }
    }

    #[test]
    fn slerp_keeps_the_norm_between_orthogonal_points_and_ends_at_both() {
        let (a, b) = ([3.0f32, 0.0], [0.0f32, 3.0]);
        assert_eq!(between(&a, &b, 0.0, true), a.to_vec());
        let end = between(&a, &b, 1.0, true);
        assert!((end[0] - 0.0).abs() < 1e-6 && (end[1] - 3.0).abs() < 1e-6);
        let mid = between(&a, &b, 0.5, true);
        let norm = (mid[0].powi(2) + mid[1].powi(2)).sqrt();
        assert!((norm - 3.0).abs() < 1e-5, "slerp midpoint norm {norm}");
        let line = between(&a, &b, 0.5, false);
        assert_eq!(line, vec![1.5, 1.5]);
    }

    #[test]
    fn principal_components_find_the_direction_of_spread() {
        // Points along (1, 1, 0) with a little noise in the other directions.
        let rows: Vec<f32> = (0..200)
            .flat_map(|i| {
                let t = (i as f32 - 100.0) / 10.0;
                let e = ((i * 37) % 11) as f32 / 100.0 - 0.05;
                [t + e, t - e, 2.0 * e]
            })
            .collect();
        let ([first, _], [share, _]) = principal_components(&rows, 3);
        let along = (first[0] + first[1]).abs() / 2f64.sqrt();
        assert!(along > 0.999, "{first:?}");
        assert!(share > 0.99, "{share}");
    }
}
