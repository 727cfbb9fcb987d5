//! An uploaded image, checked before anything is written: its declared type is one
//! Belle serves (PNG, JPEG, WebP, GIF — never SVG, which can carry script), it is not
//! empty and at most [`MAX_IMAGE_BYTES`], and its bytes are what the type says (the
//! format's signature and first structure). Messages never repeat the bytes.

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Largest accepted image: 2 MiB.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// The image types Belle accepts and serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl ImageType {
    /// From a `Content-Type` header value: the media type (parameters ignored, any
    /// case); `image/jpg`, a common misspelling, is JPEG.
    pub fn from_content_type(raw: &str) -> Option<ImageType> {
        let essence = raw.split(';').next().unwrap_or("").trim();
        Some(match essence.to_ascii_lowercase().as_str() {
            "image/png" => ImageType::Png,
            "image/jpeg" | "image/jpg" => ImageType::Jpeg,
            "image/webp" => ImageType::Webp,
            "image/gif" => ImageType::Gif,
            _ => return None,
        })
    }

    /// The media type it is stored and served with.
    pub const fn mime(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Webp => "image/webp",
            ImageType::Gif => "image/gif",
        }
    }

    const fn name(self) -> &'static str {
        match self {
            ImageType::Png => "PNG",
            ImageType::Jpeg => "JPEG",
            ImageType::Webp => "WebP",
            ImageType::Gif => "GIF",
        }
    }

    /// Whether `b` starts as a file of this type does.
    fn matches(self, b: &[u8]) -> bool {
        let u32_be = |i: usize| {
            b.get(i..i + 4)
                .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        match self {
            // Signature, then the IHDR chunk (always first) with a non-zero size.
            ImageType::Png => {
                b.starts_with(b"\x89PNG\r\n\x1a\n")
                    && b.get(12..16) == Some(b"IHDR".as_slice())
                    && u32_be(16).is_some_and(|w| w > 0)
                    && u32_be(20).is_some_and(|h| h > 0)
            }
            // Start of image, then a marker.
            ImageType::Jpeg => b.len() > 4 && b.starts_with(&[0xFF, 0xD8, 0xFF]) && b[3] >= 0xC0,
            // A RIFF container of type WEBP whose first chunk is VP8, VP8L or VP8X, and
            // whose declared length the bytes hold.
            ImageType::Webp => {
                let riff_len = b
                    .get(4..8)
                    .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize);
                b.starts_with(b"RIFF")
                    && b.get(8..12) == Some(b"WEBP".as_slice())
                    && b.get(12..15) == Some(b"VP8".as_slice())
                    && riff_len.is_some_and(|n| n >= 8 && n.saturating_add(8) <= b.len())
            }
            // Header and the logical screen descriptor with a non-zero size.
            ImageType::Gif => {
                (b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"))
                    && b.len() >= 13
                    && (b[6] | b[7]) != 0
                    && (b[8] | b[9]) != 0
            }
        }
    }
}

/// An image that passed [`check`]: its type, bytes and SHA-256 (lower-case hex).
#[derive(Clone, Debug)]
pub struct CheckedImage {
    pub kind: ImageType,
    pub bytes: Bytes,
    pub sha256: String,
}

impl CheckedImage {
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
}

/// What is wrong with an upload (the message for its `image` field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRejected(pub String);

const TYPES: &str = "image/png, image/jpeg, image/webp or image/gif";

/// Checks an upload: the declared `Content-Type`, the size, and that the bytes are an
/// image of the declared type.
pub fn check(content_type: Option<&str>, bytes: Bytes) -> Result<CheckedImage, ImageRejected> {
    let kind = match content_type {
        None => {
            return Err(ImageRejected(format!(
                "send the image as the body with Content-Type {TYPES}"
            )))
        }
        Some(ct) => ImageType::from_content_type(ct)
            .ok_or_else(|| ImageRejected(format!("Content-Type must be {TYPES}")))?,
    };
    if bytes.is_empty() {
        return Err(ImageRejected(
            "is required: send the image's bytes as the body".into(),
        ));
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    if !kind.matches(&bytes) {
        return Err(ImageRejected(format!(
            "is not a {} image (its bytes do not match its Content-Type)",
            kind.name()
        )));
    }
    let sha256 = events_schema::migrate::hex(&Sha256::digest(&bytes));
    Ok(CheckedImage {
        kind,
        bytes,
        sha256,
    })
}

/// The message for an image over [`MAX_IMAGE_BYTES`].
pub fn too_large() -> ImageRejected {
    ImageRejected(format!("must be at most 2 MiB ({MAX_IMAGE_BYTES} bytes)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 RGB PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90,
        0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x78,
        0x91, 0xdf, 0x05, 0x00, 0x04, 0x24, 0x01, 0xe2, 0xfd, 0xf4, 0xe2, 0x8a, 0x00, 0x00, 0x00,
        0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    fn webp(declared_riff_len: u32, total: usize) -> Vec<u8> {
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&declared_riff_len.to_le_bytes());
        b.extend_from_slice(b"WEBPVP8L");
        b.resize(total, 0);
        b
    }

    #[test]
    fn a_png_passes_with_its_hash_and_a_text_declared_png_does_not() {
        let ok =
            check(Some("image/png"), Bytes::from_static(PNG)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(ok.kind, ImageType::Png);
        assert_eq!(ok.size(), PNG.len());
        assert_eq!(ok.sha256.len(), 64);
        let text = check(
            Some("image/png"),
            Bytes::from_static(b"hello, this is not a picture"),
        );
        assert_eq!(
            text.map(|i| i.kind),
            Err(ImageRejected(
                "is not a PNG image (its bytes do not match its Content-Type)".into()
            ))
        );
        // A PNG declared as a JPEG is refused too: the type served must be the truth.
        assert!(check(Some("image/jpeg"), Bytes::from_static(PNG)).is_err());
        // A PNG cut short before its header chunk is no PNG.
        assert!(check(Some("image/png"), Bytes::copy_from_slice(&PNG[..14])).is_err());
    }

    #[test]
    fn the_declared_type_must_be_one_served_and_the_size_within_bounds() {
        for ct in [None, Some("image/svg+xml"), Some("text/plain"), Some("")] {
            assert!(check(ct, Bytes::from_static(PNG)).is_err(), "{ct:?}");
        }
        assert_eq!(
            ImageType::from_content_type("Image/PNG; charset=binary"),
            Some(ImageType::Png)
        );
        assert_eq!(
            ImageType::from_content_type("image/jpg"),
            Some(ImageType::Jpeg)
        );
        assert!(check(Some("image/png"), Bytes::new()).is_err());
        let mut big = PNG.to_vec();
        big.resize(MAX_IMAGE_BYTES, 0);
        assert!(check(Some("image/png"), Bytes::from(big.clone())).is_ok());
        big.push(0);
        assert_eq!(
            check(Some("image/png"), Bytes::from(big)).map(|i| i.kind),
            Err(too_large())
        );
    }

    #[test]
    fn jpeg_webp_and_gif_are_recognised_by_their_structure() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
        assert!(check(Some("image/jpeg"), Bytes::copy_from_slice(&jpeg)).is_ok());
        assert!(check(Some("image/jpeg"), Bytes::copy_from_slice(&jpeg[..3])).is_err());
        assert!(check(Some("image/webp"), Bytes::from(webp(24, 32))).is_ok());
        assert!(
            check(Some("image/webp"), Bytes::from(webp(4000, 32))).is_err(),
            "truncated"
        );
        let gif = *b"GIF89a\x01\x00\x01\x00\x80\x00\x00";
        assert!(check(Some("image/gif"), Bytes::copy_from_slice(&gif)).is_ok());
        let mut empty = gif;
        empty[6] = 0;
        empty[7] = 0;
        assert!(check(Some("image/gif"), Bytes::copy_from_slice(&empty)).is_err());
    }
}
