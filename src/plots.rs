//! Plots a person can read, as PNG: loss curves (`loss.png`) and a scatter of latent codes
//! coloured by label (`latent.png`), drawn with `plotters` into a pixel buffer, text in the
//! embedded DejaVu Sans (assets/fonts), so no system font or library is looked up.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::image_grid::ImageError;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Colours of the ten digit classes and of the loss curves (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("drawing {path}: {detail}")]
    Draw { path: String, detail: String },
    #[error(transparent)]
    Image(#[from] ImageError),
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is embedded and known to parse (a test draws with it).
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// Draws into an RGB buffer of `size` with `draw`, then writes it as a PNG (atomically).
fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<(), PlotError> {
    register_font();
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&area)
            .and_then(|()| area.present().map_err(|e| e.to_string()))
            .map_err(|detail| PlotError::Draw {
                path: path.display().to_string(),
                detail,
            })?;
    }
    let image = image::RgbImage::from_raw(size.0, size.1, pixels).expect("the buffer fits");
    crate::image_grid::save_rgb_png(path, &image)?;
    Ok(())
}

/// (min, max) of values, widened a little so that points do not sit on the frame.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// One named curve of a line plot.
pub struct Curve<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// Loss curves against epoch, with axes, labels and a legend.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    curves: &[Curve],
) -> Result<(), PlotError> {
    let xs = curves.iter().flat_map(|c| c.points.iter().map(|p| p.0));
    let ys = curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (x_lo, x_hi) = padded_range(xs);
    let (y_lo, y_hi) = padded_range(ys);
    render(path, (800, 500), |area| {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        area.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, curve) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(curve.points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(curve.name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))
    })
}

/// Points coloured by class (`labels[i]` < 10), with axes, labels and a legend of the classes.
pub fn scatter_plot(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    points: &[(f64, f64)],
    labels: &[u8],
) -> Result<(), PlotError> {
    let (x_lo, x_hi) = padded_range(points.iter().map(|p| p.0));
    let (y_lo, y_hi) = padded_range(points.iter().map(|p| p.1));
    let mut classes: Vec<u8> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    render(path, (800, 700), |area| {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        area.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .draw()
            .map_err(|e| err(&e))?;
        for &class in &classes {
            let color = PALETTE[usize::from(class) % PALETTE.len()];
            let mine = points
                .iter()
                .zip(labels)
                .filter(|(_, &l)| l == class)
                .map(|(&p, _)| Circle::new(p, 2, color.filled()));
            chart
                .draw_series(mine)
                .map_err(|e| err(&e))?
                .label(class.to_string())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))
    })
}
