//! The legacy message set formats, magic 0 and 1 (Kafka before 0.11), which clients pinned to
//! old protocol versions still send (Produce v0–v2) and expect (Fetch v0–v3).
//!
//! The kafka-protocol crate can decode these but not usefully for a broker: it does not
//! decompress wrapper messages and its encoder writes offset 0 for every message. So this is
//! a small codec of exactly the fields a broker needs, tested against hand-built messages.
//!
//! Message (one entry of a message set):
//! `offset i64 | size i32 | crc u32 | magic i8 | attributes i8 | [timestamp i64 if magic 1] |
//! key bytes | value bytes`, bytes = i32 length (-1 = null) + data. The CRC (CRC-32, IEEE)
//! covers magic to the end. A compressed "wrapper" message carries a whole inner message set
//! in its value; in magic 1 the inner offsets are relative (0..n) and the wrapper's offset is
//! the absolute offset of the last inner message, in magic 0 they are absolute.

use super::compression::{self, Codec, CodecError};
use bytes::Bytes;

/// Bytes before the CRC'd part: offset + size.
const LOG_OVERHEAD: usize = 12;
/// Attribute bit 3 (magic 1): the timestamp is the log append time.
pub const TIMESTAMP_TYPE_LOG_APPEND: i8 = 0x08;

#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error("message set truncated at byte {0}")]
    Truncated(usize),
    #[error(
        "message at byte {at}: crc mismatch (stored {stored:#010x}, computed {computed:#010x})"
    )]
    BadCrc {
        at: usize,
        stored: u32,
        computed: u32,
    },
    #[error("message at byte {at}: magic {magic} (expected {expected})")]
    BadMagic { at: usize, magic: i8, expected: i8 },
    #[error("message at byte {0}: compressed message inside a compressed message")]
    NestedCompression(usize),
    #[error("message at byte {0}: compressed wrapper without a value")]
    EmptyWrapper(usize),
    #[error("message at byte {at}: {codec:?} is not allowed with magic {magic}")]
    CodecForMagic { at: usize, codec: Codec, magic: i8 },
    #[error("wrapper message: {0}")]
    Codec(#[from] CodecError),
}

/// One decoded (inner or plain) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Absolute offset as the message set states it (for an inner message of a magic 1
    /// wrapper: derived from the wrapper's offset and the relative inner offsets). Producers
    /// write anything here; the log assigns offsets anyway.
    pub offset: i64,
    /// -1 for magic 0.
    pub timestamp: i64,
    pub log_append_time: bool,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
}

/// A decoded Produce payload in a legacy format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSet {
    pub magic: i8,
    /// The wrapper codec; `None` when messages were sent uncompressed.
    pub codec: Codec,
    pub messages: Vec<Message>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LegacyError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(LegacyError::Truncated(self.pos))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(LegacyError::Truncated(self.pos))?;
        self.pos = end;
        Ok(s)
    }
    fn i8(&mut self) -> Result<i8, LegacyError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i32(&mut self) -> Result<i32, LegacyError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, LegacyError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn bytes(&mut self) -> Result<Option<Bytes>, LegacyError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(None);
        }
        Ok(Some(Bytes::copy_from_slice(self.take(n as usize)?)))
    }
}

/// The magic byte of the first entry of a produce payload (batches and message sets both
/// keep it at byte 16), if there is one.
pub fn magic_of(payload: &[u8]) -> Option<i8> {
    payload.get(16).map(|&b| b as i8)
}

/// Decodes a complete message set (every message CRC-checked, wrappers decompressed with at
/// most `limit` bytes each). All messages must have the same magic, 0 or 1.
pub fn decode(buf: &[u8], limit: usize) -> Result<MessageSet, LegacyError> {
    let expected = magic_of(buf).ok_or(LegacyError::Truncated(0))?;
    let mut out = MessageSet {
        magic: expected,
        codec: Codec::None,
        messages: Vec::new(),
    };
    decode_into(buf, expected, limit, false, &mut out)?;
    Ok(out)
}

fn decode_into(
    buf: &[u8],
    expected: i8,
    limit: usize,
    inner: bool,
    out: &mut MessageSet,
) -> Result<(), LegacyError> {
    let mut r = Reader { buf, pos: 0 };
    while r.pos < buf.len() {
        let at = r.pos;
        let offset = r.i64()?;
        let size = r.i32()?;
        if size < 0 {
            return Err(LegacyError::Truncated(at));
        }
        let body = r.take(size as usize)?;
        let mut m = Reader { buf: body, pos: 0 };
        let stored = m
            .take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))?;
        let computed = crc32fast::hash(&body[4..]);
        if stored != computed {
            return Err(LegacyError::BadCrc {
                at,
                stored,
                computed,
            });
        }
        let magic = m.i8()?;
        if magic != expected || !(0..=1).contains(&magic) {
            return Err(LegacyError::BadMagic {
                at,
                magic,
                expected,
            });
        }
        let attributes = m.i8()?;
        let timestamp = if magic >= 1 { m.i64()? } else { -1 };
        let key = m.bytes()?;
        let value = m.bytes()?;
        let codec = Codec::from_attributes(i16::from(attributes & 0x07))?;
        let log_append_time = magic >= 1 && attributes & TIMESTAMP_TYPE_LOG_APPEND != 0;
        if codec == Codec::None {
            out.messages.push(Message {
                offset,
                timestamp,
                log_append_time,
                key,
                value,
            });
            continue;
        }
        if inner {
            return Err(LegacyError::NestedCompression(at));
        }
        if codec == Codec::Zstd || (codec == Codec::Lz4 && magic == 0) {
            return Err(LegacyError::CodecForMagic { at, codec, magic });
        }
        let value = value.ok_or(LegacyError::EmptyWrapper(at))?;
        let data = compression::decompress(codec, &value, limit)?;
        out.codec = codec;
        let first = out.messages.len();
        decode_into(&data, expected, limit, true, out)?;
        let last_relative = out.messages.last().map_or(0, |m| m.offset);
        for msg in &mut out.messages[first..] {
            if magic >= 1 {
                msg.offset += offset - last_relative;
            }
            // A wrapper with LogAppendTime stamps its inner messages with its own timestamp.
            if log_append_time {
                msg.timestamp = timestamp;
                msg.log_append_time = true;
            }
        }
    }
    Ok(())
}

/// Appends one message (uncompressed, or a wrapper whose `value` is a compressed message
/// set) in format `magic`.
pub fn encode_message(
    out: &mut Vec<u8>,
    magic: i8,
    offset: i64,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let start = out.len();
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes()); // size, patched below
    out.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    let crc_from = out.len();
    out.push(magic as u8);
    out.push(attributes as u8);
    if magic >= 1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    let size = (out.len() - start - LOG_OVERHEAD) as i32;
    out[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
    let crc = crc32fast::hash(&out[crc_from..]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
}
