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
        use rdsys::rd_kafka_vu_s__bindgen_ty_1 as U;
        let vu = |vtype, u: U| rdsys::rd_kafka_vu_t { vtype, u };
        let mem = |b: &[u8]| U {
            mem: rdsys::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                ptr: b.as_ptr() as *mut c_void,
                size: b.len(),
            },
        };
        let header = |name: &'static std::ffi::CStr, val: &[u8]| U {
            header: rdsys::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
                name: name.as_ptr(),
                val: val.as_ptr() as *const c_void,
                size: val.len() as isize,
            },
        };
        let mut args = [
            vu(
                RD_KAFKA_VTYPE_RKT,
                U {
                    rkt: self.rkt.as_ptr(),
                },
            ),
            vu(RD_KAFKA_VTYPE_PARTITION, U { i32_: PARTITION_UA }),
            vu(
                RD_KAFKA_VTYPE_MSGFLAGS,
                U {
                    i: rdsys::RD_KAFKA_MSG_F_COPY,
                },
            ),
            vu(RD_KAFKA_VTYPE_VALUE, mem(payload)),
            vu(RD_KAFKA_VTYPE_KEY, mem(key)),
            vu(
                RD_KAFKA_VTYPE_OPAQUE,
                U {
                    ptr: opaque as *mut c_void,
                },
            ),
            vu(RD_KAFKA_VTYPE_TIMESTAMP, U { i64_: timestamp_ms }),
            // The headers, when there are any (only the first `n` entries are passed).
            vu(RD_KAFKA_VTYPE_END, U { i: 0 }),
            vu(RD_KAFKA_VTYPE_END, U { i: 0 }),
            vu(RD_KAFKA_VTYPE_END, U { i: 0 }),
        ];
        let mut n = 7;
        if let Some(h) = headers {
            args[7] = vu(RD_KAFKA_VTYPE_HEADER, header(c"host", h.host));
            args[8] = vu(RD_KAFKA_VTYPE_HEADER, header(c"path", h.path));
            args[9] = vu(RD_KAFKA_VTYPE_HEADER, header(c"offset", h.offset));
            n = 10;
        }
        // SAFETY: the client and topic handle are valid (both kept by `self`); `args[..n]`
        // holds, for each tag, the union field librdkafka reads for it (rd_kafka_produceva,
        // rdkafka_msg.c); key, payload and header values point to live memory of the given
        // lengths and header names are nul-terminated statics, all copied (MSG_F_COPY; headers
        // always) before the call returns.
        let error = unsafe {
            rdsys::rd_kafka_produceva(self.producer.client().native_ptr(), args.as_ptr(), n)
        };
        if error.is_null() {
            return Ok(());
        }
        // SAFETY: a non-null error returned by rd_kafka_produceva is ours to read and destroy,
        // exactly once.
        let code = unsafe {
            let code = rdsys::rd_kafka_error_code(error);
            rdsys::rd_kafka_error_destroy(error);
            code
        };
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::from(code)))
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
