//! Parsers of the command line's structured values (lists, pairs, grids): one place, so that the
//! fuzz target `values` reaches every one. Each returns a message for any input, never panics.

use crate::schedule::Plateau;

/// A comma-separated list of sizes; whether they make sense is the model's or the command's call.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizes(pub Vec<usize>);

pub fn parse_sizes(text: &str) -> Result<Sizes, String> {
    if text.trim().is_empty() {
        return Ok(Sizes(Vec::new()));
    }
    text.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{w:?} is not a whole number"))
        })
        .collect::<Result<_, _>>()
        .map(Sizes)
}

/// A comma-separated list of numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Numbers(pub Vec<f32>);

pub fn parse_numbers(text: &str) -> Result<Numbers, String> {
    text.split(',')
        .map(|w| {
            w.trim()
                .parse::<f32>()
                .map_err(|_| format!("{w:?} is not a number"))
        })
        .collect::<Result<_, _>>()
        .map(Numbers)
}

pub fn parse_plateau(text: &str) -> Result<Plateau, String> {
    let usage = || format!("{text:?}: expected FACTOR,PATIENCE, e.g. 0.5,3");
    let (factor, patience) = text.split_once(',').ok_or_else(usage)?;
    Ok(Plateau {
        factor: factor.trim().parse().map_err(|_| usage())?,
        patience: patience.trim().parse().map_err(|_| usage())?,
    })
}

/// `0,1` → (0, 1): two latent dimensions.
pub fn parse_dims(text: &str) -> Result<(usize, usize), String> {
    let usage = || format!("{text:?}: expected two dimensions, e.g. 0,1");
    let (i, j) = text.split_once(',').ok_or_else(usage)?;
    Ok((
        i.trim().parse().map_err(|_| usage())?,
        j.trim().parse().map_err(|_| usage())?,
    ))
}

/// `4x16` → (4, 16).
pub fn parse_grid(text: &str) -> Result<(usize, usize), String> {
    let usage = || format!("{text:?}: expected ROWSxCOLUMNS, e.g. 4x16");
    let (rows, columns) = text.split_once(['x', 'X']).ok_or_else(usage)?;
    let rows: usize = rows.trim().parse().map_err(|_| usage())?;
    let columns: usize = columns.trim().parse().map_err(|_| usage())?;
    if rows.checked_mul(columns).is_none() {
        return Err(format!("{text:?}: too many images"));
    }
    if rows == 0 || columns == 0 {
        return Err(format!(
            "{text:?}: a grid needs at least one row and one column"
        ));
    }
    Ok((rows, columns))
}

/// `28x28` → (28, 28): an image's height and width.
pub fn parse_image_size(text: &str) -> Result<(usize, usize), String> {
    let usage = || format!("{text:?}: expected HEIGHTxWIDTH in pixels, e.g. 28x28");
    let (height, width) = text.split_once(['x', 'X']).ok_or_else(usage)?;
    let height: usize = height.trim().parse().map_err(|_| usage())?;
    let width: usize = width.trim().parse().map_err(|_| usage())?;
    if !(1..=MAX_IMAGE_SIDE).contains(&height) || !(1..=MAX_IMAGE_SIDE).contains(&width) {
        return Err(format!(
            "{text:?}: each side must be between 1 and {MAX_IMAGE_SIDE} pixels"
        ));
    }
    Ok((height, width))
}

/// The largest image side `--image-size` accepts.
pub const MAX_IMAGE_SIDE: usize = 4096;
