//! The reconstruction term under the model's likelihood: which kernel computes it, with its
//! gradient, for training, evaluation and the bounds.

use super::{rows_of, Vae};
use crate::kernels::gaussian_rows::Variance;
use crate::kernels::{BceRows, ColumnSum, GaussianRows, Op};
use crate::model::{Likelihood, Sigma};
use crate::ops::View;

impl Vae {
    /// The reconstruction NLL of each of `rows` rows of the decoder's output against `targets`,
    /// under the model's likelihood, into `out`; with `with_grad`, its gradient w.r.t. the decoder's
    /// output (and a learned log-variance's).
    pub(super) fn reconstruction(
        &self,
        ops: &mut Vec<Op>,
        targets: View,
        out: View,
        rows: usize,
        with_grad: bool,
    ) {
        let cols = self.config.input_dim;
        let logits = self.output(rows);
        let grad = with_grad.then(|| rows_of(*self.decoder.grad.last().unwrap(), rows, cols));
        match self.config.likelihood {
            Likelihood::Bernoulli | Likelihood::ContinuousBernoulli => ops.push(
                BceRows {
                    logits,
                    targets,
                    grad,
                    out,
                    rows,
                    cols,
                    normalized: self.config.likelihood == Likelihood::ContinuousBernoulli,
                }
                .into(),
            ),
            Likelihood::Gaussian { sigma } => {
                let learned = self
                    .layout
                    .likelihood_logvar
                    .map(|at| self.dense().param(at, cols));
                let variance = match (sigma, learned) {
                    (Sigma::Learned, Some(view)) => Variance::Learned(view),
                    (Sigma::Fixed(sigma), _) => Variance::Fixed(2.0 * sigma.ln()),
                    (Sigma::Learned, None) => unreachable!("the layout has a learned variance"),
                };
                let elements = rows_of(self.grad_logvar_elements, rows, cols);
                let grad_logvar = (learned.is_some() && with_grad).then_some(elements);
                ops.push(
                    GaussianRows {
                        mean: logits,
                        targets,
                        variance,
                        grad,
                        grad_logvar,
                        out,
                        rows,
                        cols,
                    }
                    .into(),
                );
                if let (Some(at), Some(elements)) = (self.layout.likelihood_logvar, grad_logvar) {
                    ops.push(
                        ColumnSum {
                            x: elements,
                            out: self.dense().grad(at, cols),
                            rows,
                            cols,
                        }
                        .into(),
                    );
                }
            }
        }
    }
}
