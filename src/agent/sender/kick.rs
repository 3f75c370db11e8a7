//! A one-off nudge at start-up so the idempotent producer gets its producer id at once.
//!
//! librdkafka (2.10 and later) asks for the producer id when a metadata reply arrives, but the
//! first reply is also when it decommissions the bootstrap connection that carried it, and the
//! connection to the broker the reply named is not up yet: the request finds no broker and is
//! retried on a fixed 500 ms timer (`rd_kafka_idemp_pid_timer_restart`, rdkafka_idempotence.c;
//! `rd_kafka_metadata_decommission_unavailable_brokers`, rdkafka_metadata.c). Every line of a
//! fresh start waited 0.5–1 s for its first acknowledgement (bench, 2026-11-22). Every metadata
//! reply runs the producer-id state machine again, and an application metadata request waits
//! for a usable broker: one answered by a real broker (node id ≥ 0, not the bootstrap entry)
//! finds that broker up and the producer id is asked for immediately.

use super::delivery::SectionContext;
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Requests before giving up (the broker may be down at start: the timer then does the job).
const ATTEMPTS: u32 = 5;
/// How long one request waits for a usable broker and its reply.
const WAIT: Duration = Duration::from_millis(1000);

/// Ask for `topic`'s metadata from a thread of its own until a real broker has answered.
/// Holds the producer only during a request, so a section that stops at once is not delayed.
pub(super) fn start(producer: &Arc<BaseProducer<SectionContext>>, topic: &str) {
    let weak: Weak<BaseProducer<SectionContext>> = Arc::downgrade(producer);
    let topic = topic.to_string();
    let spawned = std::thread::Builder::new()
        .name("rdk:pid-kick".into())
        .spawn(move || {
            for _ in 0..ATTEMPTS {
                let Some(p) = weak.upgrade() else { return };
                match p.client().fetch_metadata(Some(&topic), WAIT) {
                    Ok(md) if md.orig_broker_id() >= 0 => return,
                    Ok(_) => {}
                    Err(e) => tracing::debug!(topic, "start-up metadata request: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        // Only the first acknowledgement is later (librdkafka's timer); nothing else depends on it.
        tracing::debug!("cannot start the producer-id nudge: {e}");
    }
}
