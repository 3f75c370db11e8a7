//! Idempotent-producer bookkeeping per partition, with Kafka's semantics: per producer id
//! the current epoch and the last 5 batches' sequence ranges.

use super::batch::BatchHeader;
use std::collections::{HashMap, VecDeque};

/// How many recent batches per producer are remembered for duplicate detection
/// (librdkafka and the Java client keep at most 5 requests in flight).
const MAX_REMEMBERED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
    last_offset: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// Outcome of checking a batch against the producer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// Append it.
    Fresh,
    /// Already appended at these offsets: answer success, append nothing.
    Duplicate { base_offset: i64, last_offset: i64 },
}

/// Why a batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeqError {
    #[error("out of order sequence: expected {expected}, got {got}")]
    OutOfOrder { expected: i32, got: i32 },
    #[error("producer epoch {got} is older than {current}")]
    InvalidEpoch { current: i16, got: i16 },
}

/// Producer states of one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStates {
    /// Checks `h` (base offset not yet assigned) against what was appended before.
    pub fn check(&self, h: &BatchHeader) -> Result<SeqCheck, SeqError> {
        if h.producer_id < 0 {
            return Ok(SeqCheck::Fresh);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // No state (new producer, or its batches were deleted by retention): accept.
            return Ok(SeqCheck::Fresh);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SeqError::InvalidEpoch {
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            // A bumped epoch restarts the sequence.
            if h.base_sequence != 0 {
                return Err(SeqError::OutOfOrder {
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(SeqCheck::Fresh);
        }
        let last_seq = h.last_sequence();
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SeqCheck::Duplicate {
                base_offset: dup.base_offset,
                last_offset: dup.last_offset,
            });
        }
        match entry.batches.back() {
            Some(last) if h.base_sequence != next_seq(last.last_seq) => Err(SeqError::OutOfOrder {
                expected: next_seq(last.last_seq),
                got: h.base_sequence,
            }),
            _ => Ok(SeqCheck::Fresh),
        }
    }

    /// Records an appended batch (`h.base_offset` is the assigned offset). Also used to
    /// rebuild the state from batch headers during recovery.
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch < entry.epoch {
            return;
        }
        if h.producer_epoch > entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while entry.batches.len() > MAX_REMEMBERED {
            entry.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(pid: i64, epoch: i16, seq: i32, delta: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            total_len: 61,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: delta,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: delta + 1,
        }
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStates::default();
        let a = hdr(1, 0, 0, 9, 0);
        assert_eq!(s.check(&a), Ok(SeqCheck::Fresh));
        s.record(&a);
        // Retry of the same batch → duplicate with the original offsets.
        assert_eq!(
            s.check(&hdr(1, 0, 0, 9, -1)),
            Ok(SeqCheck::Duplicate {
                base_offset: 0,
                last_offset: 9
            })
        );
        // Gap → out of order.
        assert!(matches!(
            s.check(&hdr(1, 0, 11, 0, -1)),
            Err(SeqError::OutOfOrder {
                expected: 10,
                got: 11
            })
        ));
        assert_eq!(s.check(&hdr(1, 0, 10, 0, -1)), Ok(SeqCheck::Fresh));
        // Newer epoch must restart at 0; older epoch is fenced.
        assert!(s.check(&hdr(1, 1, 5, 0, -1)).is_err());
        assert_eq!(s.check(&hdr(1, 1, 0, 0, -1)), Ok(SeqCheck::Fresh));
        s.record(&hdr(1, 1, 0, 0, 10));
        assert!(matches!(
            s.check(&hdr(1, 0, 10, 0, -1)),
            Err(SeqError::InvalidEpoch { .. })
        ));
    }
}
