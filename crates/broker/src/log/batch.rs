//! Record batch (magic v2) header parsing and validation.
//!
//! Batches are stored verbatim as the client sent them. Only `baseOffset` (bytes 0..8) and
//! `partitionLeaderEpoch` (bytes 12..16) are rewritten; the CRC32C covers bytes 21.. and so
//! stays valid. Records are never decoded or decompressed here.

/// Size of the fixed v2 batch header; the smallest valid batch is exactly this long.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength`'s coverage starts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;

const OFF_BASE_OFFSET: usize = 0;
const OFF_LENGTH: usize = 8;
const OFF_LEADER_EPOCH: usize = 12;
const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_DELTA: usize = 23;
const OFF_MAX_TS: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQ: usize = 53;
const OFF_RECORD_COUNT: usize = 57;

/// Why a batch was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("incomplete batch: need {need} bytes, have {have}")]
    Incomplete { need: usize, have: usize },
    #[error("batch length {0} out of range")]
    BadLength(i64),
    #[error("unsupported magic {0} (only 2)")]
    BadMagic(i8),
    #[error("crc mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BadCrc { stored: u32, computed: u32 },
    #[error("negative lastOffsetDelta {0}")]
    BadDelta(i32),
}

/// The fields of a v2 batch header the broker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Total size on the wire/disk, header included (`batchLength + 12`).
    pub total_len: usize,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Offset of the last record; `base_offset + last_offset_delta`.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    /// The offset following this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    /// Sequence of the last record (wraps like Kafka's).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        (last % (i64::from(i32::MAX) + 1)) as i32
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses the 61-byte header at the start of `buf` and checks the length field is sane
/// (at least a header, at most `max_len`). Does not need the whole batch, so recovery can
/// walk headers with small reads. Magic is checked before anything magic-dependent.
pub fn parse_header(buf: &[u8], max_len: usize) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_LEN {
        return Err(BatchError::Incomplete {
            need: HEADER_LEN,
            have: buf.len(),
        });
    }
    let batch_length = i64::from(be_i32(buf, OFF_LENGTH));
    let total = batch_length + LOG_OVERHEAD as i64;
    if total < HEADER_LEN as i64 || total > max_len as i64 {
        return Err(BatchError::BadLength(batch_length));
    }
    let magic = buf[OFF_MAGIC] as i8;
    if magic != 2 {
        return Err(BatchError::BadMagic(magic));
    }
    let last_offset_delta = be_i32(buf, OFF_LAST_DELTA);
    if last_offset_delta < 0 {
        return Err(BatchError::BadDelta(last_offset_delta));
    }
    Ok(BatchHeader {
        base_offset: be_i64(buf, OFF_BASE_OFFSET),
        total_len: total as usize,
        magic,
        crc: be_i32(buf, OFF_CRC) as u32,
        attributes: be_i16(buf, OFF_ATTRIBUTES),
        last_offset_delta,
        max_timestamp: be_i64(buf, OFF_MAX_TS),
        producer_id: be_i64(buf, OFF_PRODUCER_ID),
        producer_epoch: be_i16(buf, OFF_PRODUCER_EPOCH),
        base_sequence: be_i32(buf, OFF_BASE_SEQ),
        record_count: be_i32(buf, OFF_RECORD_COUNT),
    })
}

/// Checks the CRC32C of a complete batch (`batch.len() == header.total_len`).
pub fn verify_crc(header: &BatchHeader, batch: &[u8]) -> Result<(), BatchError> {
    if batch.len() < header.total_len {
        return Err(BatchError::Incomplete {
            need: header.total_len,
            have: batch.len(),
        });
    }
    let computed = crc32c::crc32c(&batch[OFF_ATTRIBUTES..header.total_len]);
    if computed != header.crc {
        return Err(BatchError::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// Parses and fully validates one complete batch at the start of `buf`.
pub fn parse_and_verify(buf: &[u8], max_len: usize) -> Result<BatchHeader, BatchError> {
    let header = parse_header(buf, max_len)?;
    if buf.len() < header.total_len {
        return Err(BatchError::Incomplete {
            need: header.total_len,
            have: buf.len(),
        });
    }
    verify_crc(&header, &buf[..header.total_len])?;
    Ok(header)
}

/// Rewrites baseOffset and partitionLeaderEpoch (= 0) in place; neither is covered by the CRC.
pub fn stamp(batch: &mut [u8], base_offset: i64) {
    batch[OFF_BASE_OFFSET..OFF_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    batch[OFF_LEADER_EPOCH..OFF_LEADER_EPOCH + 4].copy_from_slice(&0i32.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid batch with `n` empty-ish records' worth of delta (records bytes are
    /// opaque to the broker, so a header-only batch is enough for these tests).
    pub(crate) fn fake_batch(delta: i32, pid: i64, seq: i32) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN];
        b[OFF_LENGTH..OFF_LENGTH + 4].copy_from_slice(&((HEADER_LEN - 12) as i32).to_be_bytes());
        b[OFF_MAGIC] = 2;
        b[OFF_LAST_DELTA..OFF_LAST_DELTA + 4].copy_from_slice(&delta.to_be_bytes());
        b[OFF_PRODUCER_ID..OFF_PRODUCER_ID + 8].copy_from_slice(&pid.to_be_bytes());
        b[OFF_BASE_SEQ..OFF_BASE_SEQ + 4].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&b[OFF_ATTRIBUTES..]);
        b[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn roundtrip_and_stamp_keeps_crc() {
        let mut b = fake_batch(4, 7, 10);
        stamp(&mut b, 1234);
        let h = parse_and_verify(&b, 1 << 20).expect("valid");
        assert_eq!(h.base_offset, 1234);
        assert_eq!(h.next_offset(), 1239);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.last_sequence(), 14);
    }

    #[test]
    fn rejects_bad_crc_magic_length() {
        let mut b = fake_batch(0, -1, -1);
        b[40] ^= 1;
        assert!(matches!(
            parse_and_verify(&b, 1 << 20),
            Err(BatchError::BadCrc { .. })
        ));
        let mut b = fake_batch(0, -1, -1);
        b[OFF_MAGIC] = 1;
        assert_eq!(parse_header(&b, 1 << 20), Err(BatchError::BadMagic(1)));
        let b = fake_batch(0, -1, -1);
        assert!(matches!(
            parse_header(&b[..30], 1 << 20),
            Err(BatchError::Incomplete { .. })
        ));
        let mut b = fake_batch(0, -1, -1);
        b[OFF_LENGTH..OFF_LENGTH + 4].copy_from_slice(&0i32.to_be_bytes());
        assert_eq!(parse_header(&b, 1 << 20), Err(BatchError::BadLength(0)));
    }
}
