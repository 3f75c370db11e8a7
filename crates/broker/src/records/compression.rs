//! The record codecs Kafka uses (gzip, snappy, lz4, zstd), with a cap on what decompression
//! may produce: a few hundred bytes of a gzip or zstd "bomb" must not make the broker
//! allocate gigabytes. The kafka-protocol crate's own decompressors have no such cap, so
//! the broker decompresses with these and hands them to the crate's decoder.
//!
//! Snappy in Kafka is usually xerial-framed (`\x82SNAPPY\0` + version + compat, then
//! length-prefixed raw blocks), as the Java client writes it; raw snappy is accepted too.
//! LZ4 is the standard LZ4 frame format (message format v1+ and v2).

use std::io::{Read, Write};

/// Largest decompressed size accepted (per batch or wrapper message).
pub const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
/// Java's SnappyOutputStream block size.
const XERIAL_BLOCK: usize = 32 * 1024;

/// A codec id as stored in batch/message attributes (bits 0..3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn from_attributes(attributes: i16) -> Result<Codec, CodecError> {
        Ok(match attributes & 0x7 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => return Err(CodecError::Unknown(other)),
        })
    }
    pub fn id(self) -> i16 {
        match self {
            Codec::None => 0,
            Codec::Gzip => 1,
            Codec::Snappy => 2,
            Codec::Lz4 => 3,
            Codec::Zstd => 4,
        }
    }
    /// The kafka-protocol crate's name for it.
    pub fn to_crate(self) -> kafka_protocol::records::Compression {
        use kafka_protocol::records::Compression as C;
        match self {
            Codec::None => C::None,
            Codec::Gzip => C::Gzip,
            Codec::Snappy => C::Snappy,
            Codec::Lz4 => C::Lz4,
            Codec::Zstd => C::Zstd,
        }
    }
    pub fn from_crate(c: kafka_protocol::records::Compression) -> Codec {
        use kafka_protocol::records::Compression as C;
        match c {
            C::None => Codec::None,
            C::Gzip => Codec::Gzip,
            C::Snappy => Codec::Snappy,
            C::Lz4 => Codec::Lz4,
            C::Zstd => Codec::Zstd,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown compression codec {0}")]
    Unknown(i16),
    #[error("{codec:?} data decompresses to more than {limit} bytes")]
    TooLarge { codec: Codec, limit: usize },
    #[error("{codec:?}: {source}")]
    Io {
        codec: Codec,
        #[source]
        source: std::io::Error,
    },
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    #[error("malformed xerial snappy framing")]
    Xerial,
}

fn io(codec: Codec) -> impl Fn(std::io::Error) -> CodecError {
    move |source| CodecError::Io { codec, source }
}

/// Reads at most `limit` bytes from `r`; more is an error.
fn read_capped(codec: Codec, r: impl Read, limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    r.take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(io(codec))?;
    if out.len() > limit {
        return Err(CodecError::TooLarge { codec, limit });
    }
    Ok(out)
}

/// Decompresses `data`, producing at most `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    match codec {
        Codec::None => {
            if data.len() > limit {
                return Err(CodecError::TooLarge { codec, limit });
            }
            Ok(data.to_vec())
        }
        Codec::Gzip => read_capped(codec, flate2::read::MultiGzDecoder::new(data), limit),
        Codec::Lz4 => {
            let d = lz4::Decoder::new(data).map_err(io(codec))?;
            read_capped(codec, d, limit)
        }
        Codec::Zstd => {
            let d = zstd::stream::read::Decoder::new(data).map_err(io(codec))?;
            read_capped(codec, d, limit)
        }
        Codec::Snappy => snappy_decompress(data, limit),
    }
}

fn snappy_raw(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), CodecError> {
    let n = snap::raw::decompress_len(block)?;
    if out.len() + n > limit {
        return Err(CodecError::TooLarge {
            codec: Codec::Snappy,
            limit,
        });
    }
    let start = out.len();
    out.resize(start + n, 0);
    let got = snap::raw::Decoder::new().decompress(block, &mut out[start..])?;
    out.truncate(start + got);
    Ok(())
}

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    if !data.starts_with(XERIAL_MAGIC) {
        snappy_raw(data, &mut out, limit)?;
        return Ok(out);
    }
    // Header: magic (8), version (4), compatible version (4).
    let mut rest = data.get(16..).ok_or(CodecError::Xerial)?;
    while !rest.is_empty() {
        let len = rest.get(..4).ok_or(CodecError::Xerial)?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let block = rest.get(4..4 + len).ok_or(CodecError::Xerial)?;
        snappy_raw(block, &mut out, limit)?;
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// Compresses `data` (for down-converted wrapper messages).
pub fn compress(codec: Codec, data: &[u8]) -> Result<Vec<u8>, CodecError> {
    match codec {
        Codec::None => Ok(data.to_vec()),
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).map_err(io(codec))?;
            e.finish().map_err(io(codec))
        }
        Codec::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .block_mode(lz4::BlockMode::Independent)
                .build(Vec::new())
                .map_err(io(codec))?;
            e.write_all(data).map_err(io(codec))?;
            let (out, r) = e.finish();
            r.map_err(io(codec))?;
            Ok(out)
        }
        Codec::Zstd => zstd::stream::encode_all(data, 3).map_err(io(codec)),
        Codec::Snappy => {
            // xerial framing, as Kafka's Java client and broker write it.
            let mut out = Vec::with_capacity(data.len() / 2 + 32);
            out.extend_from_slice(XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK) {
                let block = enc.compress_vec(chunk)?;
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_codec() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_be_bytes())
            .collect();
        for c in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let z = compress(c, &data).expect("compress");
            assert_eq!(
                decompress(c, &z, data.len()).expect("decompress"),
                data,
                "{c:?}"
            );
            assert!(
                matches!(
                    decompress(c, &z, data.len() - 1),
                    Err(CodecError::TooLarge { .. })
                ),
                "{c:?} cap"
            );
        }
    }

    #[test]
    fn raw_snappy_and_bombs() {
        let data = vec![7u8; 1 << 20];
        let raw = snap::raw::Encoder::new()
            .compress_vec(&data)
            .expect("snappy");
        assert_eq!(decompress(Codec::Snappy, &raw, 1 << 20).expect("raw"), data);
        // A gzip bomb stops at the cap instead of allocating all of it.
        let bomb = compress(Codec::Gzip, &vec![0u8; 8 << 20]).expect("gzip");
        assert!(bomb.len() < 64 * 1024);
        assert!(matches!(
            decompress(Codec::Gzip, &bomb, 1 << 20),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(decompress(
            Codec::Snappy,
            b"\x82SNAPPY\x00\0\0\0\x01\0\0\0\x01\0\0\0\x09ab",
            100
        )
        .is_err());
        assert!(decompress(Codec::Gzip, b"not gzip", 100).is_err());
    }
}
