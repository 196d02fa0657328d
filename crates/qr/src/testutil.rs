//! Helpers shared by the tests: a genuine code to draw, and a scanner that reads PNGs back.

use std::io::Cursor;

use uuid::Uuid;

use crate::token::{Credential, StaticSigner};

/// A real printed code, signed by a fixed test key.
pub(crate) fn sample_static_code() -> String {
    sample_code_for(0x0191_c8f4_5a2b_7c3d_8e4f_a1b2_c3d4_e5f6, 1)
}

pub(crate) fn sample_code_for(worker: u128, version: u32) -> String {
    StaticSigner::from_secret_bytes([42; 32]).sign(Credential {
        worker_id: Uuid::from_u128(worker),
        version,
    })
}

/// Decodes an 8-bit grayscale PNG and scans the one QR code in it, as a phone camera would.
pub(crate) fn decode_png(bytes: &[u8]) -> String {
    let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(frame.color_type, png::ColorType::Grayscale);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    let width = frame.width as usize;
    let height = frame.height as usize;
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "expected exactly one QR code in the image");
    grids[0].decode().unwrap().1
}
