//! The thread that serves librdkafka's event queue for one producer. Unsafe code of the
//! agent (with topic.rs): a queue-event callback registered through rdkafka-sys, and the raw
//! queue handle.
#![warn(clippy::undocumented_unsafe_blocks)]

use super::delivery::SectionContext;
use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, Producer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Serves librdkafka's event queue (delivery reports, errors, statistics, logs) on its own
/// thread, in place of rdkafka's `ThreadedProducer`, whose `poll(100 ms)` loop busy-polls
/// through the last millisecond of every call (rdkafka 0.39 rounds the remaining time down to
/// whole milliseconds and polls again with 0): about 0.6 % of a core per idle producer.
/// This thread parks until librdkafka enqueues an event (a queue event callback unparks it),
/// then drains the queue with non-blocking polls.
pub(super) struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Called by librdkafka, with the queue locked, whenever an op is enqueued: only unparks.
unsafe extern "C" fn wake_poller(_rk: *mut rdsys::rd_kafka_t, opaque: *mut std::ffi::c_void) {
    // SAFETY: `opaque` is the `Box<Thread>` leaked in `Poller::start`, freed only after
    // this callback was disabled (under the same queue lock).
    unsafe { (*(opaque as *const std::thread::Thread)).unpark() };
}

impl Poller {
    pub(super) fn start(producer: Arc<BaseProducer<SectionContext>>) -> std::io::Result<Poller> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rdk:poller".into())
            .spawn(move || {
                // SAFETY: the client outlives this thread (it holds an Arc to the producer).
                let queue =
                    unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) };
                // Freed below, after the callback that reads it is disabled.
                let waker = Box::into_raw(Box::new(std::thread::current()));
                // SAFETY: `queue` is the valid handle obtained above; `waker` stays alive until
                // the callback is disabled again below, before it is freed.
                unsafe {
                    rdsys::rd_kafka_queue_cb_event_enable(
                        queue,
                        Some(wake_poller),
                        waker as *mut std::ffi::c_void,
                    )
                };
                while !s.load(Ordering::Acquire) {
                    // One op per zero-timeout poll; a delivery report op carries a whole batch.
                    // SAFETY: `queue` is valid until `rd_kafka_queue_destroy` below.
                    while unsafe { rdsys::rd_kafka_queue_length(queue) } > 0 {
                        producer.poll(Duration::ZERO);
                        producer.context().flush_run();
                    }
                    // Woken by the callback (an unpark before this park is not lost); the
                    // timeout is only a safety net.
                    std::thread::park_timeout(Duration::from_secs(1));
                }
                // SAFETY: disabling the callback takes the queue lock, so no callback runs
                // afterwards and `waker` can be freed; `queue` is destroyed exactly once.
                unsafe {
                    rdsys::rd_kafka_queue_cb_event_enable(queue, None, std::ptr::null_mut());
                    rdsys::rd_kafka_queue_destroy(queue);
                    drop(Box::from_raw(waker));
                }
            })?;
        Ok(Poller {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
