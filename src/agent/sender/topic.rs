//! The section's topic as a librdkafka topic handle: enqueueing a line costs no topic lookup
//! and no allocation. rdkafka's `BaseProducer::send` builds a C string of the topic name for
//! every message (a malloc and a free) and librdkafka then looks the name up under its lock;
//! in bulk that was about a tenth of the reading thread's time (bench/profile.sh, 2026-11-26).
//! The other half of the agent's unsafe code (with poller.rs): one handle, one call.
#![warn(clippy::undocumented_unsafe_blocks)]

use super::delivery::SectionContext;
use rdkafka::bindings as rdsys;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaRespErr;
use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

/// A topic handle of one producer. It keeps the producer alive, so the handle is always
/// destroyed before the client it belongs to.
pub(super) struct TopicHandle {
    rkt: NonNull<rdsys::rd_kafka_topic_t>,
    producer: Arc<BaseProducer<SectionContext>>,
}

// SAFETY: librdkafka topic handles are thread-safe (reference-counted, internally locked);
// this one is only used for produce calls and destroyed once, in drop.
unsafe impl Send for TopicHandle {}
// SAFETY: as above; `produce` takes `&self` and librdkafka serialises what needs it.
unsafe impl Sync for TopicHandle {}

impl TopicHandle {
    pub(super) fn new(
        producer: Arc<BaseProducer<SectionContext>>,
        topic: &str,
    ) -> Result<TopicHandle, KafkaError> {
        let name = CString::new(topic)?;
        // SAFETY: the client pointer is valid while `producer` lives (we keep it); the name is
        // a valid C string, copied by librdkafka; a null conf means the producer's defaults.
        let rkt = unsafe {
            rdsys::rd_kafka_topic_new(
                producer.client().native_ptr(),
                name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        match NonNull::new(rkt) {
            Some(rkt) => Ok(TopicHandle { rkt, producer }),
            None => {
                // SAFETY: reads librdkafka's thread-local last error, no pointers involved.
                let code = unsafe { rdsys::rd_kafka_last_error() };
                Err(KafkaError::ClientCreation(format!(
                    "topic handle for {topic}: {:?}",
                    RDKafkaErrorCode::from(code)
                )))
            }
        }
    }

    /// Enqueue one message; librdkafka copies key, payload and headers. `opaque` comes back
    /// with its delivery report (as rdkafka's `usize` delivery opaque). `timestamp_ms` is its
    /// CreateTime.
    pub(super) fn produce(
        &self,
        opaque: usize,
        key: &[u8],
        payload: &[u8],
        timestamp_ms: i64,
        headers: Option<&LineHeaders>,
    ) -> Result<(), KafkaError> {
        use rdsys::rd_kafka_vtype_t::*;
        let rk = self.producer.client().native_ptr();
        let rkt = self.rkt.as_ptr();
        let (value, value_len) = (payload.as_ptr() as *mut c_void, payload.len());
        let (k, k_len) = (key.as_ptr() as *mut c_void, key.len());
        let opaque = opaque as *mut c_void;
        // SAFETY: the client and topic handle are valid (both kept by `self`); key, payload
        // and header values point to live memory of the given lengths, header names are
        // nul-terminated statics, and all are copied (MSG_F_COPY; headers always) before the
        // call returns; each tag is followed by the types librdkafka reads for it and the
        // list is closed by VTYPE_END, as in rdkafka's own `BaseProducer::send`.
        let err: RDKafkaRespErr = unsafe {
            match headers {
                None => rdsys::rd_kafka_producev(
                    rk,
                    RD_KAFKA_VTYPE_RKT,
                    rkt,
                    RD_KAFKA_VTYPE_PARTITION,
                    PARTITION_UA,
                    RD_KAFKA_VTYPE_MSGFLAGS,
                    rdsys::RD_KAFKA_MSG_F_COPY,
                    RD_KAFKA_VTYPE_VALUE,
                    value,
                    value_len,
                    RD_KAFKA_VTYPE_KEY,
                    k,
                    k_len,
                    RD_KAFKA_VTYPE_OPAQUE,
                    opaque,
                    RD_KAFKA_VTYPE_TIMESTAMP,
                    timestamp_ms,
                    RD_KAFKA_VTYPE_END,
                ),
                Some(h) => rdsys::rd_kafka_producev(
                    rk,
                    RD_KAFKA_VTYPE_RKT,
                    rkt,
                    RD_KAFKA_VTYPE_PARTITION,
                    PARTITION_UA,
                    RD_KAFKA_VTYPE_MSGFLAGS,
                    rdsys::RD_KAFKA_MSG_F_COPY,
                    RD_KAFKA_VTYPE_VALUE,
                    value,
                    value_len,
                    RD_KAFKA_VTYPE_KEY,
                    k,
                    k_len,
                    RD_KAFKA_VTYPE_OPAQUE,
                    opaque,
                    RD_KAFKA_VTYPE_TIMESTAMP,
                    timestamp_ms,
                    RD_KAFKA_VTYPE_HEADER,
                    c"host".as_ptr(),
                    h.host.as_ptr() as *const c_void,
                    h.host.len() as isize,
                    RD_KAFKA_VTYPE_HEADER,
                    c"path".as_ptr(),
                    h.path.as_ptr() as *const c_void,
                    h.path.len() as isize,
                    RD_KAFKA_VTYPE_HEADER,
                    c"offset".as_ptr(),
                    h.offset.as_ptr() as *const c_void,
                    h.offset.len() as isize,
                    RD_KAFKA_VTYPE_END,
                ),
            }
        };
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(KafkaError::MessageProduction(RDKafkaErrorCode::from(err)))
        }
    }
}

/// Values of the `host`, `path` and `offset` headers of one line (`headers = true`).
pub(super) struct LineHeaders<'a> {
    pub host: &'a [u8],
    pub path: &'a [u8],
    /// The line's file offset in decimal.
    pub offset: &'a [u8],
}

/// librdkafka's "unassigned" partition: the configured partitioner picks one (by key).
const PARTITION_UA: i32 = -1;

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: created by rd_kafka_topic_new and destroyed exactly once, here, while the
        // producer (kept by `self.producer`) is still alive.
        unsafe { rdsys::rd_kafka_topic_destroy(self.rkt.as_ptr()) };
    }
}
