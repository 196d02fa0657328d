//! Bytes that pass for each stored type, for this crate's tests and those
//! of the services storing photos (feature `sample`): only the first bytes
//! decide, so a header and filler will do.

/// The first bytes of a JFIF JPEG.
pub const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
/// The PNG signature and the start of its IHDR chunk.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
/// A RIFF container of WebP.
pub const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";

/// A JPEG of `len` bytes (at least [`JPEG`]'s): its header, then filler.
pub fn jpeg(len: usize) -> Vec<u8> {
    let mut bytes = JPEG.to_vec();
    bytes.resize(len.max(JPEG.len()), 0x5A);
    bytes
}
