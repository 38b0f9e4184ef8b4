//! The many-draw program of `eval`'s bounds: several draws of z per image, their log importance
//! weights merged per image into a running log-sum-exp, and the reconstruction terms added up.

use super::{rows_of, DeviceData, Vae};
use crate::backend::{Backend, BackendError};
use crate::kernels::{
    Activation, GroupSums, KlRows, LogWeights, LogsumexpGroups, Op, Reparameterize,
};
use crate::ops::View;

impl Vae {
    /// `samples` draws z ~ q(z|x) for each of the images perm[frame.batch_start ..][.. images]
    /// (Philox `stream`, step frame.step): per image, the log-sum-exp of the log importance weights
    /// merged into the bound accumulators and the reconstruction NLLs added to the reconstruction
    /// sums (both started by `reset_bound_accumulators`), and the analytic KL in
    /// `per_row_losses(images).1`. images × samples must fit the capacity.
    pub fn multi_sample(
        &self,
        data: &DeviceData,
        perm: View,
        images: usize,
        samples: usize,
        stream: u32,
    ) -> Vec<Op> {
        let rows = images * samples;
        self.check_rows(rows);
        let (latent, dim) = (self.config.latent, self.config.input_dim);
        let mut ops = Vec::new();
        self.gather(&mut ops, data, perm, images, false);
        let input = rows_of(self.input, images, dim);
        self.side_forward(
            &mut ops,
            &self.encoder,
            input,
            images,
            Activation::Identity,
            0.0,
        );
        ops.push(
            KlRows {
                stats: self.stats(images),
                out: rows_of(self.kl_rows, images, 1),
                rows: images,
                latent,
            }
            .into(),
        );
        let targets = rows_of(self.targets, rows, dim);
        ops.extend(data.gather(perm, targets, rows, None, samples));
        let z = rows_of(self.z, rows, latent);
        let eps = rows_of(self.eps, rows, latent);
        ops.push(
            Reparameterize {
                stats: self.stats(images),
                z,
                eps,
                rows,
                latent,
                stream,
                sample: true,
                repeat: samples,
            }
            .into(),
        );
        self.side_forward(&mut ops, &self.decoder, z, rows, Activation::Identity, 0.0);
        let nll = rows_of(self.bce_rows, rows, 1);
        self.reconstruction(&mut ops, targets, nll, rows, false);
        let log_weights = rows_of(self.log_weights, rows, 1);
        ops.push(
            LogWeights {
                nll,
                z,
                eps,
                stats: self.stats(images),
                out: log_weights,
                rows,
                latent,
                repeat: samples,
            }
            .into(),
        );
        ops.push(
            LogsumexpGroups {
                values: log_weights,
                acc: rows_of(self.bound_acc, images, 2),
                groups: images,
                size: samples,
            }
            .into(),
        );
        ops.push(
            GroupSums {
                values: nll,
                out: rows_of(self.recon_sums, images, 1),
                groups: images,
                size: samples,
                accumulate: true,
            }
            .into(),
        );
        ops
    }

    /// Starts the per-image sums of `multi_sample` for `images` images: log-sum-exps empty,
    /// reconstruction sums 0.
    pub fn reset_bound_accumulators<B: Backend>(&self, backend: &mut B, images: usize) {
        let empty = crate::kernels::logsumexp_groups::EMPTY_MAX;
        let acc: Vec<f32> = (0..images).flat_map(|_| [empty, 0.0]).collect();
        backend.write_f32(self.bound_acc, 0, &acc);
        backend.write_f32(self.recon_sums, 0, &vec![0.0; images]);
    }

    /// Per image after `multi_sample`: (m, s) of the log-sum-exp, and the reconstruction sum.
    pub fn read_bound_accumulators<B: Backend>(
        &self,
        backend: &mut B,
        images: usize,
    ) -> Result<(Vec<f32>, Vec<f32>), BackendError> {
        Ok((
            backend.read_f32(self.bound_acc, 0, 2 * images)?,
            backend.read_f32(self.recon_sums, 0, images)?,
        ))
    }
}
