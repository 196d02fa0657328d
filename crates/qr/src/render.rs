//! Turns a code's text into a QR image: SVG for screens and web pages, PNG for files and chat.
//!
//! Both use error correction level M (15% of the symbol may be damaged or dirty) and a quiet zone
//! of 4 modules, the margin the QR standard requires for scanners to find the symbol.

use std::fmt::Write as _;

use qrcode::types::QrError;
use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the symbol on every side.
pub const QUIET_ZONE: usize = 4;
/// Pixels per module in the SVG's `width` and `height`; it scales losslessly anyway.
const SVG_PX_PER_MODULE: usize = 8;

/// Why an image or sheet could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The text does not fit in the largest QR symbol at error correction level M.
    #[error("text of {len} bytes is too long for a QR code")]
    DataTooLong {
        /// Length of the refused text in bytes.
        len: usize,
    },
    /// The QR encoder refused the text for another reason.
    #[error("qr encoding failed: {0}")]
    Qr(String),
    /// The PNG encoder failed.
    #[error("failed to encode png")]
    Png(#[from] png::EncodingError),
    /// Writing the zip archive failed.
    #[error("failed to write zip archive")]
    Zip(#[from] zip::result::ZipError),
    /// Writing the CSV index failed.
    #[error("failed to write csv index")]
    Csv(#[from] csv::Error),
    /// Writing into an in-memory buffer failed.
    #[error("failed to write output")]
    Io(#[from] std::io::Error),
}

/// The dark and light modules of a symbol, without its quiet zone.
#[derive(Debug, Clone)]
pub(crate) struct Matrix {
    width: usize,
    dark: Vec<bool>,
}

impl Matrix {
    pub(crate) fn encode(text: &str) -> Result<Self, RenderError> {
        let code =
            QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|error| {
                match error {
                    QrError::DataTooLong => RenderError::DataTooLong { len: text.len() },
                    other => RenderError::Qr(other.to_string()),
                }
            })?;
        let dark = code
            .to_colors()
            .into_iter()
            .map(|color| color == Color::Dark)
            .collect();
        Ok(Self {
            width: code.width(),
            dark,
        })
    }

    /// Modules per side, with the quiet zone on both sides.
    pub(crate) fn outer_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Horizontal runs of dark modules as `(row, first column, length)`, counted without the
    /// quiet zone. Drawing runs instead of modules makes SVG paths and PDF pages several times
    /// smaller.
    pub(crate) fn runs(&self) -> Vec<(usize, usize, usize)> {
        let mut runs = Vec::new();
        for (row, modules) in self.dark.chunks(self.width.max(1)).enumerate() {
            let mut column = 0;
            while column < modules.len() {
                if modules[column] {
                    let start = column;
                    while column < modules.len() && modules[column] {
                        column += 1;
                    }
                    runs.push((row, start, column - start));
                } else {
                    column += 1;
                }
            }
        }
        runs
    }
}

/// A standalone SVG of the code, in module units, with one path for all dark modules.
pub fn svg(text: &str) -> Result<String, RenderError> {
    let matrix = Matrix::encode(text)?;
    let side = matrix.outer_width();
    let pixels = side * SVG_PX_PER_MODULE;
    let mut path = String::new();
    for (row, column, length) in matrix.runs() {
        // Writing to a String cannot fail.
        let _ = write!(
            path,
            "M{} {}h{length}v1h-{length}z",
            column + QUIET_ZONE,
            row + QUIET_ZONE
        );
    }
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {side} {side}" "#,
            r#"width="{pixels}" height="{pixels}" shape-rendering="crispEdges">"#,
            r##"<rect width="{side}" height="{side}" fill="#fff"/>"##,
            r##"<path fill="#000" d="{path}"/></svg>"##,
            "\n"
        ),
        side = side,
        pixels = pixels,
        path = path
    ))
}

/// An 8-bit grayscale PNG of the code, `scale` pixels per module (clamped to 1..=32).
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, RenderError> {
    let matrix = Matrix::encode(text)?;
    // At most 32 px per module: the largest symbol is then under 6000 px, about 35 MB raw.
    let scale = usize::try_from(scale.clamp(1, 32)).unwrap_or(1);
    let side = matrix.outer_width() * scale;
    let mut pixels = vec![0xffu8; side * side];
    for (row, column, length) in matrix.runs() {
        let top = (row + QUIET_ZONE) * scale;
        let left = (column + QUIET_ZONE) * scale;
        for y in top..top + scale {
            let start = y * side + left;
            pixels[start..start + length * scale].fill(0);
        }
    }

    let side = u32::try_from(side).map_err(|_| RenderError::Qr("image too large".to_owned()))?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{decode_png, sample_static_code};

    #[test]
    fn a_png_of_a_static_code_scans_back_to_the_same_text() {
        let text = sample_static_code();
        let image = png(&text, 4).unwrap();
        assert_eq!(decode_png(&image), text);
    }

    #[test]
    fn png_scale_is_clamped_to_a_sane_range() {
        let text = "PNT2.short";
        let width = Matrix::encode(text).unwrap().outer_width();
        let side_at = |scale| {
            let image = png(text, scale).unwrap();
            let info = png::Decoder::new(std::io::Cursor::new(image))
                .read_info()
                .unwrap()
                .info()
                .width;
            info as usize
        };
        assert_eq!(side_at(0), width);
        assert_eq!(side_at(3), width * 3);
        assert_eq!(side_at(1000), width * 32);
        assert_eq!(decode_png(&png(text, 1).unwrap()), text);
    }

    #[test]
    fn an_svg_is_a_standalone_document_in_module_units() {
        let text = sample_static_code();
        let image = svg(&text).unwrap();
        let side = Matrix::encode(&text).unwrap().outer_width();
        assert!(image.starts_with("<svg"));
        assert!(image.trim_end().ends_with("</svg>"));
        assert!(image.contains(&format!(r#"viewBox="0 0 {side} {side}""#)));
        assert!(image.contains(&format!(r#"width="{}""#, side * 8)));
        assert_eq!(image.matches("<path").count(), 1);
    }

    #[test]
    fn different_texts_give_different_paths() {
        let path = |text: &str| {
            let image = svg(text).unwrap();
            let start = image.find(" d=\"").unwrap();
            image[start..].to_owned()
        };
        assert_ne!(path("PNT1.one"), path("PNT1.two"));
    }

    #[test]
    fn text_too_long_for_any_symbol_is_refused() {
        let text = "x".repeat(3000);
        assert!(matches!(
            svg(&text),
            Err(RenderError::DataTooLong { len: 3000 })
        ));
        assert!(matches!(
            png(&text, 4),
            Err(RenderError::DataTooLong { len: 3000 })
        ));
    }

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let matrix = Matrix::encode(&sample_static_code()).unwrap();
        let mut painted = vec![false; matrix.width * matrix.width];
        for (row, column, length) in matrix.runs() {
            for x in column..column + length {
                assert!(!painted[row * matrix.width + x]);
                painted[row * matrix.width + x] = true;
            }
        }
        assert_eq!(painted, matrix.dark);
    }
}
