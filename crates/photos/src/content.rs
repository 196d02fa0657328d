//! What a photo is, told from its bytes alone: its type from the magic
//! bytes every JPEG, PNG and WebP file starts with, its name from its
//! SHA-256. Nothing the client claims about a file is believed.

use sha2::{Digest, Sha256};

use crate::PhotoError;

/// Largest photo stored: 5 MiB, a phone camera's JPEG with room to spare.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// Largest gRPC message a service storing photos decodes: a photo of
/// [`MAX_PHOTO_BYTES`] and its envelope, so an upload that is too large is
/// refused by [`Upload::parse`] naming the field, not by the transport.
pub const MAX_MESSAGE_BYTES: usize = MAX_PHOTO_BYTES + 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Jpeg,
    Png,
    Webp,
}

impl ContentType {
    /// The type `bytes` start like, if it is one we store.
    pub fn sniff(bytes: &[u8]) -> Option<ContentType> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(ContentType::Jpeg),
            [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Some(ContentType::Png),
            [
                b'R',
                b'I',
                b'F',
                b'F',
                _,
                _,
                _,
                _,
                b'W',
                b'E',
                b'B',
                b'P',
                ..,
            ] => Some(ContentType::Webp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Jpeg => "image/jpeg",
            ContentType::Png => "image/png",
            ContentType::Webp => "image/webp",
        }
    }
}

/// A photo's name: the SHA-256 of its bytes, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhotoHash(String);

impl PhotoHash {
    pub fn of(bytes: &[u8]) -> PhotoHash {
        PhotoHash(hex::encode(Sha256::digest(bytes)))
    }

    /// Field `sha256`: 64 hex digits (either case; kept lowercase).
    pub fn parse(s: &str) -> Result<PhotoHash, PhotoError> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PhotoError::invalid(
                "sha256",
                "must be 64 hex digits (a SHA-256 as UploadPhoto answers it)",
            ));
        }
        Ok(PhotoHash(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Field `content` of an upload: 1 to [`MAX_PHOTO_BYTES`] bytes of JPEG,
/// PNG or WebP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload<'a> {
    pub bytes: &'a [u8],
    pub content_type: ContentType,
    pub sha256: PhotoHash,
}

impl<'a> Upload<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Upload<'a>, PhotoError> {
        if bytes.is_empty() {
            return Err(PhotoError::invalid("content", "is empty"));
        }
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(PhotoError::invalid(
                "content",
                format!(
                    "is {} bytes; a photo is at most {MAX_PHOTO_BYTES} bytes (5 MiB)",
                    bytes.len()
                ),
            ));
        }
        let content_type = ContentType::sniff(bytes)
            .ok_or_else(|| PhotoError::invalid("content", "is not a JPEG, PNG or WebP image"))?;
        Ok(Upload {
            bytes,
            content_type,
            sha256: PhotoHash::of(bytes),
        })
    }

    /// At most [`MAX_PHOTO_BYTES`], so it fits.
    pub fn size(&self) -> u32 {
        u32::try_from(self.bytes.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{JPEG, PNG, WEBP, jpeg};

    fn field_and_reason(e: PhotoError) -> (&'static str, String) {
        match e {
            PhotoError::Invalid { field, reason } => (field, reason),
            other => panic!("not a field violation: {other}"),
        }
    }

    #[test]
    fn jpeg_png_and_webp_are_told_by_their_first_bytes() {
        assert_eq!(ContentType::sniff(JPEG), Some(ContentType::Jpeg));
        assert_eq!(ContentType::sniff(PNG), Some(ContentType::Png));
        assert_eq!(ContentType::sniff(WEBP), Some(ContentType::Webp));
        let types: Vec<_> = [JPEG, PNG, WEBP]
            .iter()
            .map(|b| Upload::parse(b).unwrap().content_type.as_str())
            .collect();
        assert_eq!(types, ["image/jpeg", "image/png", "image/webp"]);
    }

    #[test]
    fn other_files_and_truncated_headers_are_refused_naming_content() {
        let gif: &[u8] = b"GIF89a\x01\0\x01\0";
        let pdf: &[u8] = b"%PDF-1.7\n";
        // A RIFF file that is not WebP (a WAV recording).
        let wav: &[u8] = b"RIFF\x24\0\0\0WAVEfmt ";
        let cut_png = &PNG[..7];
        let cut_jpeg = &JPEG[..2];
        for bytes in [gif, pdf, wav, cut_png, cut_jpeg, b"hello".as_slice()] {
            assert_eq!(ContentType::sniff(bytes), None, "{bytes:?}");
            let (field, reason) = field_and_reason(Upload::parse(bytes).unwrap_err());
            assert_eq!(field, "content");
            assert!(reason.contains("JPEG, PNG or WebP"), "{reason}");
        }
    }

    #[test]
    fn an_empty_or_oversized_upload_is_refused_naming_content_and_the_limit() {
        let (field, reason) = field_and_reason(Upload::parse(&[]).unwrap_err());
        assert_eq!((field, reason.as_str()), ("content", "is empty"));

        let mut big = jpeg(MAX_PHOTO_BYTES);
        assert_eq!(
            Upload::parse(&big).unwrap().size() as usize,
            MAX_PHOTO_BYTES
        );
        big.push(0);
        let (field, reason) = field_and_reason(Upload::parse(&big).unwrap_err());
        assert_eq!(field, "content");
        assert!(reason.contains(&MAX_PHOTO_BYTES.to_string()), "{reason}");
        assert!(reason.contains("5 MiB"), "{reason}");
        const { assert!(MAX_MESSAGE_BYTES > MAX_PHOTO_BYTES) };
    }

    #[test]
    fn the_same_bytes_get_the_same_lowercase_sha256() {
        let a = Upload::parse(PNG).unwrap();
        // Other bytes in memory, the same content.
        let copy = PNG.to_vec();
        let b = Upload::parse(&copy).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_ne!(a.sha256, Upload::parse(JPEG).unwrap().sha256);
        // SHA-256 of the empty string, a known answer.
        assert_eq!(
            PhotoHash::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(
            a.sha256
                .as_str()
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert_eq!(a.sha256.as_str().len(), 64);
    }

    #[test]
    fn a_hash_is_64_hex_digits_and_reads_back_lowercase() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        assert_eq!(PhotoHash::parse(upper).unwrap(), PhotoHash::of(b""));
        let short = &upper[..63];
        let long = format!("{upper}0");
        let not_hex = format!("{}g", &upper[..63]);
        let path = "photos/w1.jpg";
        // 64 bytes, but not 64 ASCII characters.
        let wide = format!("{}é", &upper[..62]);
        for bad in ["", short, &long, &not_hex, path, &wide] {
            let (field, _) = field_and_reason(PhotoHash::parse(bad).unwrap_err());
            assert_eq!(field, "sha256", "{bad:?}");
        }
    }
}
