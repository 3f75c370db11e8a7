//! The bundled broker's request path: a byte stream as a client would send it (4-byte length
//! prefixes + request frames) is framed by `read_frame` and each frame decoded and handled by
//! the same code a connection runs. Must never panic, and a length field must never make it
//! allocate more than the bytes that actually arrived (libFuzzer's -malloc_limit_mb catches
//! that; ci.sh runs with a limit far below the broker's 100 MiB frame cap).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use logferry_broker::{self as broker, codec, BrokerConfig, BrokerHandle, Flush};
use std::sync::OnceLock;
use std::time::Duration;

struct Env {
    rt: tokio::runtime::Runtime,
    broker: BrokerHandle,
    max: usize,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = BrokerConfig {
            listen: "127.0.0.1:0".into(),
            // fsync on a timer, not per produce: keeps executions fast.
            flush: Flush::IntervalMs(60_000),
            group_initial_rebalance_delay_ms: 0,
            segment_bytes: 1 << 20,
            ..BrokerConfig::default()
        };
        let max = cfg.max_request_bytes;
        let broker = rt
            .block_on(broker::start(cfg, dir.path().join("data")))
            .expect("broker starts");
        Env {
            rt,
            broker,
            max,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let env = env();
    env.rt.block_on(async {
        let mut stream = data;
        // A stream of frames, as on one connection: stop where the connection would close.
        while let Ok(Some(frame)) = codec::read_frame(&mut stream, env.max).await {
            let handled = tokio::time::timeout(
                // Fetch long-polls and JoinGroup waits are legitimate; don't wait them out.
                Duration::from_millis(200),
                env.broker.handle_frame(Bytes::from(frame.to_vec())),
            )
            .await;
            if let Ok(Err(_)) = handled {
                break;
            }
        }
    });
});
