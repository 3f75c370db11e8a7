//! Helpers shared by the broker tests: in-process brokers on port 0, child-process brokers
//! (for kill -9), and a raw Kafka-protocol client built on the kafka-protocol crate.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use logferry_broker::{self as broker, BrokerConfig, BrokerHandle};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn test_config(partitions: u32) -> BrokerConfig {
    BrokerConfig {
        listen: "127.0.0.1:0".into(),
        num_partitions: partitions,
        group_initial_rebalance_delay_ms: 100,
        ..BrokerConfig::default()
    }
}

/// An in-process broker with its own runtime, so the test thread may block freely.
pub struct InProc {
    pub rt: tokio::runtime::Runtime,
    pub handle: Option<BrokerHandle>,
}

/// Logs from in-process brokers go to the test's captured output.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
}

impl InProc {
    pub fn start(cfg: BrokerConfig, dir: &Path) -> InProc {
        init_tracing();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(broker::start(cfg, dir.to_path_buf()))
            .expect("broker starts");
        InProc {
            rt,
            handle: Some(handle),
        }
    }

    pub fn bootstrap(&self) -> String {
        self.handle.as_ref().expect("running").bootstrap_servers()
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("running").local_addr()
    }

    pub fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown()).expect("clean shutdown");
        }
    }
}

/// `logferry broker` as a child process; its stderr lines are collected.
pub struct ChildBroker {
    pub child: Child,
    pub addr: String,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl ChildBroker {
    pub fn spawn(dir: &Path, extra: &[&str]) -> ChildBroker {
        ChildBroker::spawn_on("127.0.0.1:0", dir, extra)
    }

    /// On a fixed address, so a client outlives broker restarts.
    pub fn spawn_on(listen: &str, dir: &Path, extra: &[&str]) -> ChildBroker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logferry"))
            .args(["broker", "--listen", listen, "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("LOGFERRY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn logferry broker");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let l2 = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[child] {line}");
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                l2.lock().expect("lines").push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child broker reports its address");
        ChildBroker { child, addr, lines }
    }

    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn terminate(mut self) {
        // SIGTERM by pid: a clean shutdown.
        let pid = self.child.id() as libc::pid_t;
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = crate::util::wait_or_dump(&mut self.child, crate::util::EXIT_WAIT, "SIGTERM");
        assert!(status.success(), "broker exited with {status}");
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains(needle))
    }
}

impl Drop for ChildBroker {
    /// A failing test must not leave its broker running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking raw protocol connection.
pub struct Raw {
    pub stream: TcpStream,
    corr: i32,
}

impl Raw {
    pub fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw { stream, corr: 0 }
    }

    /// Connected from a given local address (e.g. 127.0.0.2 on loopback, for IP rules).
    pub fn connect_from(addr: &str, local: &str) -> Raw {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let stream = rt.block_on(async {
            let s = tokio::net::TcpSocket::new_v4().expect("socket");
            s.bind(format!("{local}:0").parse().expect("local addr"))
                .expect("bind local address");
            s.connect(addr.parse().expect("addr"))
                .await
                .expect("connect")
        });
        let stream = stream.into_std().expect("std stream");
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw { stream, corr: 0 }
    }

    /// Encodes a request frame.
    pub fn frame<R: Encodable>(&mut self, key: ApiKey, version: i16, req: &R) -> Bytes {
        self.corr += 1;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")))
            .encode(&mut body, key.request_header_version(version))
            .expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut out = BytesMut::new();
        out.put_i32(body.len() as i32);
        out.extend_from_slice(&body);
        out.freeze()
    }

    pub fn send_bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(b)
    }

    /// Reads one response frame and decodes its header; returns the body.
    pub fn read_response(&mut self, key: ApiKey, version: i16) -> std::io::Result<(i32, Bytes)> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body)?;
        let mut b = Bytes::from(body);
        let hv = if key == ApiKey::ApiVersions {
            0
        } else {
            key.response_header_version(version)
        };
        let h = ResponseHeader::decode(&mut b, hv).expect("response header");
        Ok((h.correlation_id, b))
    }

    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let f = self.frame(key, version, req);
        self.send_bytes(&f).expect("send");
        let (corr, mut body) = self.read_response(key, version).expect("response");
        assert_eq!(corr, self.corr, "responses in order");
        let r = Resp::decode(&mut body, version).expect("decode response");
        assert!(!body.has_remaining(), "whole response consumed");
        r
    }

    /// True once the peer closed the connection (read returns EOF or reset).
    pub fn is_closed_by_peer(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
        false
    }
}

/// Polls `f` until it returns Some, or panics after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A record batch (format v2, uncompressed) of `values`; producer id/epoch/sequence -1 for a
/// non-idempotent producer.
pub fn record_batch(pid: i64, epoch: i16, seq: i32, values: &[&str]) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: seq + i as i32,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("encode batch");
    buf.freeze()
}
