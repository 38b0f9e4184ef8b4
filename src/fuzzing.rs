//! The bodies of the fuzz targets (`fuzz/`), here so that the regression test
//! (`tests/fuzz_regressions.rs`) replays saved inputs through the same code on stable Rust. Each
//! takes any bytes; a panic is a bug (every input must get a value or a typed error), and so is a
//! broken promise checked here.

use std::path::Path;

use crate::checkpoint;
use crate::data::idx;
use crate::model::Sigma;
use crate::values;
use crate::workflows::sample::model_from_parts;

/// The IDX reader, raw and gzip (detected by its magic), as images and as labels.
pub fn idx_reader(bytes: &[u8]) {
    if let Ok(images) = idx::parse_images(bytes, "fuzz input") {
        let size = images.count * images.rows * images.cols;
        assert_eq!(images.pixels.len(), size, "pixels disagree with the shape");
        assert!(images.count > 0 && images.rows > 0 && images.cols > 0);
    }
    let _ = idx::parse_labels(bytes, "fuzz input");
}

/// The safetensors loader, then the model its metadata describes built from its tensors.
pub fn checkpoint_loader(bytes: &[u8]) {
    let path = Path::new("fuzz.safetensors");
    let Ok((tensors, metadata)) = checkpoint::parse(bytes, path) else {
        return;
    };
    for tensor in &tensors {
        let count = tensor.shape.iter().product::<usize>();
        assert_eq!(
            tensor.data.len(),
            count,
            "{} disagrees with its shape",
            tensor.name
        );
    }
    if let Ok(model) = model_from_parts(path, &tensors, metadata) {
        assert!(model.parameters.iter().all(|v| v.is_finite()));
        assert_eq!(model.image.dim(), model.config.input_dim);
    }
}

/// Every parser of structured command-line values, on the input as text.
pub fn value_parsers(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let _ = values::parse_sizes(text);
    let _ = values::parse_numbers(text);
    let _ = values::parse_plateau(text);
    let _ = values::parse_dims(text);
    if let Ok((rows, columns)) = values::parse_grid(text) {
        assert!(rows > 0 && columns > 0 && rows.checked_mul(columns).is_some());
    }
    if let Ok((height, width)) = values::parse_image_size(text) {
        assert!(height > 0 && width > 0 && height * width <= 1 << 24);
    }
    let _ = Sigma::parse(text);
}
