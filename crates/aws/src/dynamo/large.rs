//! Results too large for one DynamoDB item (400 KB).
//!
//! A completion whose result would push the job record past [`INLINE_LIMIT`] keeps its text
//! gzip-compressed in a binary attribute; if even the compressed text is over the limit, the
//! job fails with `result_too_large` and a message giving the sizes. A result is never cut.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Largest result text (bytes, as stored) written inline or compressed: DynamoDB's 400 KB item
/// limit less room for the request, attempts and the other attributes of the record.
pub(super) const INLINE_LIMIT: usize = 350 * 1024;

/// Longest text a compressed result may expand to on read (a guard against a corrupt or
/// hostile blob expanding without bound).
const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;

/// How a completion's result text is stored.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stored {
    /// Small enough to store as it is.
    Inline,
    /// Stored gzip-compressed.
    Compressed(Vec<u8>),
    /// Too large even compressed: the sizes, for the failure message.
    TooLarge { text: usize, compressed: usize },
}

/// Decides how to store a result whose text is `text` and whose other parts of the record
/// (request, attempts, usage...) take about `rest` bytes.
pub(super) fn store(text: &str, rest: usize) -> Stored {
    if text.len() + rest <= INLINE_LIMIT {
        return Stored::Inline;
    }
    match compress(text) {
        Ok(compressed) if compressed.len() + rest <= INLINE_LIMIT => Stored::Compressed(compressed),
        Ok(compressed) => Stored::TooLarge {
            text: text.len(),
            compressed: compressed.len(),
        },
        // Compressing into memory cannot fail in practice; treat it as incompressible.
        Err(_) => Stored::TooLarge {
            text: text.len(),
            compressed: text.len(),
        },
    }
}

fn compress(text: &str) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes())?;
    encoder.finish()
}

/// The text of a compressed result.
pub(super) fn decompress(blob: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    GzDecoder::new(blob)
        .take(MAX_DECOMPRESSED)
        .read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn small_texts_stay_inline_and_large_compressible_ones_are_compressed() {
        assert_eq!(store("hello", 1000), Stored::Inline);
        let big = "all work and no play ".repeat(50_000);
        let Stored::Compressed(blob) = store(&big, 1000) else {
            panic!("a repetitive megabyte compresses");
        };
        assert!(blob.len() < INLINE_LIMIT);
        assert_eq!(decompress(&blob).unwrap(), big);
    }

    #[test]
    fn incompressible_text_too_large_is_reported_with_sizes() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: String = (0..600_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 90) as u8)
            })
            .collect();
        match store(&noise, 0) {
            Stored::TooLarge { text, compressed } => {
                assert_eq!(text, 600_000);
                assert!(compressed > INLINE_LIMIT);
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }
}
