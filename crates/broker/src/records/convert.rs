//! Conversion between the legacy message formats and record batches (magic 2), as a Kafka
//! broker with the v2 message format does it:
//! - up: a Produce v0–v2 payload (message set, magic 0/1, maybe compressed) becomes one v2
//!   batch with the same codec, records at relative offsets 0..n (the log assigns the base),
//!   timestamps kept (-1 for magic 0), no producer id;
//! - down: stored v2 batches become a message set of the magic a Fetch v0–v3 client reads,
//!   with the right absolute offsets; compressed batches become wrapper messages of the same
//!   codec where that magic allows it (gzip, snappy; lz4 from magic 1), plain messages
//!   otherwise. Headers are dropped (the old formats have none), control batches skipped.
//!
//! Batches are decoded with the kafka-protocol crate, decompressed by [`compression`] (capped).

use super::compression::{self, Codec, CodecError};
use super::legacy::{self, LegacyError, TIMESTAMP_TYPE_LOG_APPEND};
use crate::log::batch::{self, BatchError};
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Smallest encoded v2 record (length, attributes, timestamp delta, offset delta, key length,
/// value length, header count: one byte each); bounds the record count a batch may claim.
const MIN_RECORD_BYTES: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Legacy(#[from] LegacyError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("record batch: {0}")]
    Decode(String),
    #[error("encode: {0}")]
    Encode(String),
    #[error("batch claims {count} records in {bytes} bytes")]
    RecordCount { count: i32, bytes: usize },
    #[error("empty message set")]
    Empty,
}

/// A Produce v0–v2 payload (magic 0 or 1) as one v2 record batch. Offsets inside start at 0.
pub fn up_convert(payload: &[u8], limit: usize) -> Result<Vec<u8>, ConvertError> {
    let set = legacy::decode(payload, limit)?;
    if set.messages.is_empty() {
        return Err(ConvertError::Empty);
    }
    let records: Vec<Record> = set
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: if m.log_append_time {
                TimestampType::LogAppend
            } else {
                TimestampType::Creation
            },
            offset: i as i64,
            // The crate keeps records in one batch while offset - sequence is constant and
            // writes first.sequence - first.offset as base sequence: this makes it -1.
            sequence: i as i32 - 1,
            timestamp: m.timestamp,
            key: m.key.clone(),
            value: m.value.clone(),
            headers: Default::default(),
        })
        .collect();
    encode_batch(&records, set.codec)
}

/// Encodes `records` (one batch's worth, see the sequence note in [`up_convert`]) as v2.
pub fn encode_batch(records: &[Record], codec: Codec) -> Result<Vec<u8>, ConvertError> {
    let mut buf = BytesMut::new();
    let compressor = |raw: &mut BytesMut, out: &mut BytesMut, c| {
        let z = compression::compress(Codec::from_crate(c), raw)?;
        out.extend_from_slice(&z);
        Ok(())
    };
    RecordBatchEncoder::encode_with_custom_compression(
        &mut buf,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: codec.to_crate(),
        },
        Some(compressor),
    )
    .map_err(|e| ConvertError::Encode(e.to_string()))?;
    Ok(buf.to_vec())
}

/// One stored batch, decoded.
pub struct DecodedBatch {
    pub header: batch::BatchHeader,
    pub codec: Codec,
    pub records: Vec<Record>,
}

/// Decodes every whole v2 batch in `buf` (as read from a segment), decompressing at most
/// `limit` bytes per batch.
pub fn decode_batches(buf: &[u8], limit: usize) -> Result<Vec<DecodedBatch>, ConvertError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let h = batch::parse_and_verify(&buf[pos..], i32::MAX as usize)?;
        out.push(decode_one(&buf[pos..pos + h.total_len], h, limit)?);
        pos += h.total_len;
    }
    Ok(out)
}

/// Decodes one complete, verified v2 batch.
pub fn decode_one(
    bytes: &[u8],
    h: batch::BatchHeader,
    limit: usize,
) -> Result<DecodedBatch, ConvertError> {
    let codec = Codec::from_attributes(h.attributes)?;
    let count = h.record_count;
    // The crate reserves `record_count` records up front: check it against the bytes first.
    let decompress = move |raw: &mut Bytes, _c| -> anyhow::Result<Bytes> {
        let data = compression::decompress(codec, raw, limit)?;
        if count < 0 || count as usize > data.len() / MIN_RECORD_BYTES {
            anyhow::bail!(ConvertError::RecordCount {
                count,
                bytes: data.len()
            });
        }
        Ok(Bytes::from(data))
    };
    let mut b = Bytes::copy_from_slice(bytes);
    let set = RecordBatchDecoder::decode_with_custom_compression(&mut b, Some(decompress))
        .map_err(|e| ConvertError::Decode(e.to_string()))?;
    Ok(DecodedBatch {
        header: h,
        codec,
        records: set.records,
    })
}

/// Stored v2 batches as a message set of `magic` (0 or 1) for Fetch v0–v3.
pub fn down_convert(buf: &[u8], magic: i8, limit: usize) -> Result<Vec<u8>, ConvertError> {
    let mut out = Vec::with_capacity(buf.len());
    for b in decode_batches(buf, limit)? {
        if b.header.is_control() || b.records.is_empty() {
            continue;
        }
        let log_append = b.header.attributes & 0x08 != 0;
        let ts_attr = if magic >= 1 && log_append {
            TIMESTAMP_TYPE_LOG_APPEND
        } else {
            0
        };
        let keep_codec = match b.codec {
            Codec::Gzip | Codec::Snappy => true,
            Codec::Lz4 => magic >= 1,
            Codec::None | Codec::Zstd => false,
        };
        if !keep_codec {
            for r in &b.records {
                legacy::encode_message(
                    &mut out,
                    magic,
                    r.offset,
                    ts_attr,
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                );
            }
            continue;
        }
        let last = b.records.iter().map(|r| r.offset).max().unwrap_or(0);
        let first = b.records.iter().map(|r| r.offset).min().unwrap_or(0);
        let mut inner = Vec::new();
        for r in &b.records {
            // Magic 1: offsets relative to the first; magic 0: absolute.
            let off = if magic >= 1 {
                r.offset - first
            } else {
                r.offset
            };
            legacy::encode_message(
                &mut inner,
                magic,
                off,
                ts_attr,
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
            );
        }
        let z = compression::compress(b.codec, &inner)?;
        let max_ts = b.records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        legacy::encode_message(
            &mut out,
            magic,
            last,
            b.codec.id() as i8 | ts_attr,
            max_ts,
            None,
            Some(&z),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
