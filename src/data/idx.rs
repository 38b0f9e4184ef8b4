//! Reads IDX image and label files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.

use std::io::Read;
use std::path::Path;

use super::DataError;

/// IDX magic of a u8 tensor with 3 dimensions (count, rows, cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic of a u8 tensor with 1 dimension (count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Largest accepted image side: far above any IDX data set, low enough to catch a garbled header.
const MAX_SIDE: usize = 1 << 14;

/// Images of one IDX file, row-major, one after another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count * rows * cols` bytes.
    pub pixels: Vec<u8>,
}

/// Reads an images file (`*-images-idx3-ubyte`, raw or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(&read_file(path)?, &path.display().to_string())
}

/// Reads a labels file (`*-labels-idx1-ubyte`, raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(&read_file(path)?, &path.display().to_string())
}

/// Parses the bytes of an images file; `source` names the file in errors. Gzip is detected by
/// its magic bytes, so the file name does not matter.
pub fn parse_images(bytes: &[u8], source: &str) -> Result<IdxImages, DataError> {
    let bytes = decompress(bytes, source)?;
    let body = check_header(&bytes, source, IMAGES_MAGIC, "images, idx3-ubyte", 4)?;
    let count = dim(&bytes, 1);
    let rows = dim(&bytes, 2);
    let cols = dim(&bytes, 3);
    if count == 0 || rows == 0 || cols == 0 {
        return Err(bad_dims(
            source,
            format!("{count} x {rows} x {cols} has a zero"),
        ));
    }
    if rows > MAX_SIDE || cols > MAX_SIDE {
        return Err(bad_dims(
            source,
            format!("{rows} x {cols} images exceed {MAX_SIDE} pixels a side"),
        ));
    }
    // Checked so that a garbled count cannot wrap around and pass the length test.
    let expected = count
        .checked_mul(rows * cols)
        .ok_or_else(|| bad_dims(source, format!("{count} x {rows} x {cols} overflows")))?;
    check_length(body, expected, source, "pixels")?;
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: body.to_vec(),
    })
}

/// Parses the bytes of a labels file; `source` names the file in errors.
pub fn parse_labels(bytes: &[u8], source: &str) -> Result<Vec<u8>, DataError> {
    let bytes = decompress(bytes, source)?;
    let body = check_header(&bytes, source, LABELS_MAGIC, "labels, idx1-ubyte", 2)?;
    let count = dim(&bytes, 1);
    if count == 0 {
        return Err(bad_dims(source, "zero labels".to_string()));
    }
    check_length(body, count, source, "labels")?;
    Ok(body.to_vec())
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|error| DataError::Io {
        file: path.display().to_string(),
        error,
    })
}

/// Inflates gzip data (recognised by 1f 8b; IDX data always starts with 00 00) or borrows raw data.
///
/// Inflation stops a margin past the size the IDX header declares, so that a small file cannot
/// expand into more memory than the data it claims to hold (a "gzip bomb"): memory stays bounded
/// by the smaller of the declared size and the real content.
fn decompress<'a>(bytes: &'a [u8], source: &str) -> Result<std::borrow::Cow<'a, [u8]>, DataError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.into());
    }
    let gzip_error = |error| DataError::Gzip {
        file: source.to_string(),
        error,
    };
    // MultiGzDecoder also accepts files made by concatenating gzip members.
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut out = Vec::new();
    // The magic word, whose last byte is the number of dimensions, then one word per dimension.
    (&mut decoder)
        .take(4)
        .read_to_end(&mut out)
        .map_err(gzip_error)?;
    let dims = out.get(3).map_or(0, |&d| usize::from(d));
    (&mut decoder)
        .take(4 * dims as u64)
        .read_to_end(&mut out)
        .map_err(gzip_error)?;
    let declared = (0..dims)
        .filter(|i| out.len() >= 4 * (i + 2))
        .try_fold(1usize, |product, i| {
            product.checked_mul(word(&out, i + 1) as usize)
        });
    // An overflowing declaration fails the header checks; no body is needed to say so.
    let body = declared.map_or(0, |d| d.saturating_add(TRAILING_MARGIN));
    (&mut decoder)
        .take(body as u64)
        .read_to_end(&mut out)
        .map_err(gzip_error)?;
    Ok(out.into())
}

/// Bytes inflated past the declared size, to say how many trailing bytes a file has.
const TRAILING_MARGIN: usize = 64 << 10;

/// Checks the magic and that the `words` big-endian u32 header words are present; returns the body.
fn check_header<'a>(
    bytes: &'a [u8],
    source: &str,
    expected: u32,
    kind: &'static str,
    words: usize,
) -> Result<&'a [u8], DataError> {
    let header = 4 * words;
    if bytes.len() < 4 {
        return Err(DataError::HeaderTruncated {
            file: source.to_string(),
            expected: header,
            found: bytes.len(),
        });
    }
    let found = word(bytes, 0);
    if found != expected {
        return Err(DataError::BadMagic {
            file: source.to_string(),
            kind,
            expected,
            found,
        });
    }
    if bytes.len() < header {
        return Err(DataError::HeaderTruncated {
            file: source.to_string(),
            expected: header,
            found: bytes.len(),
        });
    }
    Ok(&bytes[header..])
}

fn check_length(
    body: &[u8],
    expected: usize,
    source: &str,
    what: &'static str,
) -> Result<(), DataError> {
    if body.len() < expected {
        return Err(DataError::Truncated {
            file: source.to_string(),
            what,
            expected,
            found: body.len(),
        });
    }
    if body.len() > expected {
        let extra = body.len() - expected;
        // Gzip data is only inflated a margin past the declared size.
        let extra = if extra >= TRAILING_MARGIN {
            format!("{TRAILING_MARGIN} or more")
        } else {
            extra.to_string()
        };
        return Err(DataError::TrailingBytes {
            file: source.to_string(),
            what,
            expected,
            extra,
        });
    }
    Ok(())
}

fn bad_dims(source: &str, detail: String) -> DataError {
    DataError::BadDimensions {
        file: source.to_string(),
        detail,
    }
}

/// The `index`-th big-endian u32 of the header; the caller has checked it is there.
fn word(bytes: &[u8], index: usize) -> u32 {
    let at = 4 * index;
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn dim(bytes: &[u8], index: usize) -> usize {
    word(bytes, index) as usize
}

/// Encodes images as a raw IDX file (tests build their fixtures with it).
#[cfg(test)]
pub(crate) fn encode_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [IMAGES_MAGIC, count, rows, cols] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Encodes labels as a raw IDX file.
#[cfg(test)]
pub(crate) fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [LABELS_MAGIC, labels.len() as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend_from_slice(labels);
    out
}

/// Gzips `bytes` in memory.
#[cfg(test)]
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_dir;

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 10) as u8).collect();
        (encode_images(3, 2, 4, &pixels), pixels)
    }

    #[test]
    fn round_trip_raw_and_gzip_files() {
        let dir = test_dir("idx-round-trip");
        let (images, pixels) = sample();
        let labels = [7u8, 0, 9];
        for (suffix, pack) in [("", false), (".gz", true)] {
            let image_path = dir.join(format!("x-images-idx3-ubyte{suffix}"));
            let label_path = dir.join(format!("x-labels-idx1-ubyte{suffix}"));
            let (image_bytes, label_bytes) = if pack {
                (gzip(&images), gzip(&encode_labels(&labels)))
            } else {
                (images.clone(), encode_labels(&labels))
            };
            std::fs::write(&image_path, image_bytes).unwrap();
            std::fs::write(&label_path, label_bytes).unwrap();
            let read = read_images(&image_path).unwrap();
            assert_eq!((read.count, read.rows, read.cols), (3, 2, 4));
            assert_eq!(read.pixels, pixels);
            assert_eq!(read_labels(&label_path).unwrap(), labels);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn gzip_is_detected_by_content_not_name() {
        let (images, pixels) = sample();
        let read = parse_images(&gzip(&images), "plain-name").unwrap();
        assert_eq!(read.pixels, pixels);
    }

    #[test]
    fn bad_magic_names_file_and_both_values() {
        let labels = encode_labels(&[1, 2]);
        let message = parse_images(&labels, "foo-images").unwrap_err().to_string();
        assert!(message.contains("foo-images"), "{message}");
        assert!(message.contains("magic"), "{message}");
        assert!(message.contains("0x00000803"), "{message}");
        assert!(message.contains("0x00000801"), "{message}");
    }

    #[test]
    fn truncated_pixels_say_expected_and_found() {
        let (images, _) = sample();
        let cut = &images[..images.len() - 5];
        let message = parse_images(cut, "short.idx").unwrap_err().to_string();
        assert!(message.contains("short.idx"), "{message}");
        assert!(message.contains("truncated"), "{message}");
        assert!(message.contains("expected 24"), "{message}");
        assert!(message.contains("found 19"), "{message}");
        let message = parse_images(&images[..10], "head.idx")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("head.idx") && message.contains("header"),
            "{message}"
        );
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut labels = encode_labels(&[1, 2, 3]);
        labels.extend_from_slice(&[0, 0]);
        let message = parse_labels(&labels, "long.idx").unwrap_err().to_string();
        assert!(message.contains("long.idx"), "{message}");
        assert!(message.contains("2 trailing bytes"), "{message}");
        let message = parse_labels(&gzip(&labels), "long.idx.gz")
            .unwrap_err()
            .to_string();
        assert!(message.contains("2 trailing bytes"), "{message}");
    }

    /// 64 MiB of zeros behind a one-pixel image, gzipped to a few KiB: inflation stops a margin
    /// past the declared size instead of holding it all.
    #[test]
    fn a_gzip_bomb_is_not_inflated_whole() {
        let mut bomb = encode_images(1, 1, 1, &[7]);
        bomb.resize(bomb.len() + (64 << 20), 0);
        let small = gzip(&bomb);
        assert!(small.len() < 1 << 20);
        let message = parse_images(&small, "bomb.gz").unwrap_err().to_string();
        assert!(
            message.contains("65536 or more trailing bytes"),
            "{message}"
        );
        // A declared size the content does not reach is truncated, whatever the header claims.
        let claim = gzip(&encode_images(4_000_000, 1000, 1000, &[1, 2, 3]));
        let message = parse_images(&claim, "claim.gz").unwrap_err().to_string();
        assert!(
            message.contains("truncated") || message.contains("dimensions"),
            "{message}"
        );
    }

    #[test]
    fn zero_and_absurd_dimensions_are_rejected() {
        let message = parse_images(&encode_images(0, 28, 28, &[]), "zero")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("zero") && message.contains("dimensions"),
            "{message}"
        );
        let message = parse_images(&encode_images(1, 1 << 20, 1, &[]), "huge")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("huge") && message.contains("dimensions"),
            "{message}"
        );
        // A count that would overflow must not pass the length test.
        let message = parse_images(&encode_images(u32::MAX, 16384, 16384, &[]), "wrap")
            .unwrap_err()
            .to_string();
        assert!(message.contains("wrap"), "{message}");
    }

    #[test]
    fn corrupt_gzip_is_reported() {
        let (images, _) = sample();
        let mut packed = gzip(&images);
        let half = packed.len() / 2;
        packed.truncate(half);
        let message = parse_images(&packed, "bad.gz").unwrap_err().to_string();
        assert!(
            message.contains("bad.gz") && message.contains("gzip"),
            "{message}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let path = std::env::temp_dir().join("vae-gpu-no-such-images-idx3-ubyte");
        let message = read_images(&path).unwrap_err().to_string();
        assert!(
            message.contains("vae-gpu-no-such-images-idx3-ubyte"),
            "{message}"
        );
    }
}
