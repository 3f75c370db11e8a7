//! The bundled single-node Kafka-compatible broker. It knows nothing about log files.
//!
//! Layout: `server` (accept loop, per-connection ordered handling) → `codec` (framing via the
//! kafka-protocol crate) → `api/*` (one module per Kafka API) → `topics` (registry, per-topic
//! config overrides from `topic_config`) / `partition` / `log` (segments, index, recovery,
//! retention, compaction), `records` (legacy message formats, conversion, capped
//! decompression), `flusher` (group-committed fdatasync, high watermark), `group` (consumer
//! group coordinator), `offsets` (committed offsets and group metadata as records of the
//! internal topic `__consumer_offsets`, in Kafka's schema), `producer_ids` (idempotent
//! producer ids, unique across restarts).

pub mod acl;
pub mod api;
pub mod auth;
pub mod codec;
pub mod config;
pub mod flusher;
pub mod group;
pub mod log;
pub mod metrics;
pub mod offsets;
pub mod partition;
pub mod producer_ids;
pub mod records;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod topic_config;
pub mod topics;

pub use config::{BrokerConfig, Flush, ListenerConfig, SaslMechanism, SecurityProtocol};

use log::{fsync_dir, LogError};
use state::Broker;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Present in the data dir only while the broker is stopped after a clean shutdown.
const CLEAN_SHUTDOWN_MARKER: &str = ".clean-shutdown";
const LOCK_FILE: &str = ".lock";
/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(5);
/// How often group sessions are checked for expiry.
const SESSION_CHECK_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("data dir {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data dir {} is in use by another broker (lock {} held)", path.display(), LOCK_FILE)]
    Locked { path: PathBuf },
    #[error("storage: {0}")]
    Storage(#[from] LogError),
    #[error("internal topic: {0}")]
    InternalTopic(#[from] topics::TopicError),
    #[error("invalid advertised listener {0:?} (want host:port)")]
    AdvertisedListener(String),
    #[error("[broker]: {0}")]
    Config(#[from] config::ConfigCheckError),
    #[error("{0}")]
    Tls(#[from] auth::tls::TlsError),
    #[error("credentials_file: {0}")]
    Credentials(#[from] auth::credentials::CredentialsError),
    #[error("start flusher thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("shutdown task failed: {0}")]
    Task(String),
}

/// A running broker.
///
/// Call [`BrokerHandle::shutdown`] to stop it cleanly. Dropping the handle also stops the
/// accept loop and connections (dropping cancels the shutdown token), but skips the final
/// flush and the clean-shutdown marker, so the next start runs a full recovery — like a crash.
pub struct BrokerHandle {
    local_addr: SocketAddr,
    /// (listener name, bound address), in listener order.
    addrs: Vec<(String, SocketAddr)>,
    /// Wakes the security loop: reread the ACLs and users now (SIGHUP).
    reload: Arc<tokio::sync::Notify>,
    bootstrap: String,
    data_dir: PathBuf,
    broker: Arc<Broker>,
    /// Dropped with the handle: cancels `shutdown`.
    _cancel_on_drop: tokio_util::sync::DropGuard,
    shutdown: CancellationToken,
    accept: Vec<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    /// Held (flock'ed) for the broker's lifetime.
    _lock: logferry_fsutil::DirLock,
}

/// Binds, recovers storage, and returns once the listener accepts connections.
pub async fn start(
    cfg: BrokerConfig,
    data_dir: std::path::PathBuf,
) -> Result<BrokerHandle, BrokerError> {
    let lock = match logferry_fsutil::DirLock::acquire(&data_dir, LOCK_FILE, false) {
        Ok(l) => l,
        Err(logferry_fsutil::LockError::Busy { .. }) => {
            return Err(BrokerError::Locked {
                path: data_dir.clone(),
            })
        }
        Err(logferry_fsutil::LockError::Io { path, source }) => {
            return Err(BrokerError::DataDir { path, source })
        }
    };

    cfg.check()?;
    let mut bound = Vec::new();
    for l in cfg.listeners() {
        bound.push(bind(&l).await?);
    }
    let local_addr = bound[0]
        .socket
        .local_addr()
        .map_err(|source| BrokerError::Bind {
            addr: cfg.listen.clone(),
            source,
        })?;
    let advertised = bound[0].info.advertised.clone();
    let users = auth::Users::new(cfg.credentials_file.clone());
    // A broker with SASL listeners and an unreadable users file would refuse everyone.
    users.reload()?;
    let authz = acl::Authorizer::new(
        cfg.acl_enabled,
        &cfg.super_users,
        acl_source(&cfg),
        cfg.acl_backup_path
            .clone()
            .unwrap_or_else(|| data_dir.join("acl-backup.toml")),
    );

    // Storage recovery is blocking file I/O: keep it off the async workers.
    let dir = data_dir.clone();
    let c = cfg.clone();
    let storage = tokio::task::spawn_blocking(move || open_storage(&dir, &c))
        .await
        .map_err(|e| BrokerError::Task(e.to_string()))??;

    let shutdown = CancellationToken::new();
    let data_version = watch::Sender::new(0u64);
    let flusher =
        flusher::Flusher::start(cfg.flush, data_version.clone()).map_err(BrokerError::Thread)?;
    let groups = group::Coordinator::new(
        Duration::from_millis(cfg.group_initial_rebalance_delay_ms),
        shutdown.child_token(),
    );
    let broker = Arc::new(Broker {
        max_batch_bytes: cfg.max_request_bytes,
        cfg,
        listeners: bound.iter().map(|b| b.info.clone()).collect(),
        authz,
        users,
        topics: storage.topics,
        groups,
        offsets: Arc::new(storage.offsets),
        producer_ids: Arc::new(storage.producer_ids),
        flusher,
        data_version,
        shutdown: shutdown.clone(),
        metrics: metrics::BrokerMetrics::default(),
    });
    if broker.authz.enabled() {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || b.authz.load_initial(&b.metrics))
            .await
            .map_err(|e| BrokerError::Task(e.to_string()))?;
    }
    let reload = Arc::new(tokio::sync::Notify::new());
    let background = vec![
        tokio::spawn(session_loop(broker.clone())),
        tokio::spawn(retention_loop(broker.clone())),
        tokio::spawn(security_loop(broker.clone(), reload.clone())),
    ];
    // Completed generations and empty groups are recorded in __consumer_offsets (as Kafka).
    let weak = Arc::downgrade(&broker);
    broker.groups.set_persist_hook(Box::new(move |group| {
        if let Some(b) = weak.upgrade() {
            if let Some(d) = b.groups.describe(group) {
                b.offsets
                    .record_group(&b.flusher, group, &offsets::group_value(&d));
            }
        }
    }));
    let mut addrs = Vec::new();
    let mut accept = Vec::new();
    for b in bound {
        let addr = b.socket.local_addr().map_err(|source| BrokerError::Bind {
            addr: b.info.name.clone(),
            source,
        })?;
        tracing::info!(data_dir = %data_dir.display(), listener = %b.info.name,
            protocol = b.info.protocol.as_str(),
            advertised = %b.info.advertised,
            "listening on {addr}");
        addrs.push((b.info.name.clone(), addr));
        accept.push(tokio::spawn(server::accept_loop(b, broker.clone())));
    }
    Ok(BrokerHandle {
        local_addr,
        addrs,
        reload,
        bootstrap: advertised,
        data_dir,
        broker,
        _cancel_on_drop: shutdown.clone().drop_guard(),
        shutdown,
        accept,
        background,
        _lock: lock,
    })
}

struct Storage {
    topics: topics::Topics,
    offsets: offsets::OffsetStore,
    producer_ids: producer_ids::ProducerIds,
}

fn open_storage(dir: &Path, cfg: &BrokerConfig) -> Result<Storage, BrokerError> {
    let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
    let clean = marker.exists();
    if !clean {
        tracing::info!(data_dir = %dir.display(), "no clean-shutdown marker: verifying logs past their recovery points");
    }
    let topics = topics::Topics::load(dir, cfg, clean)?;
    let internal = topics.ensure_offsets_topic()?;
    let partition = internal.partitions[0].clone();
    let offsets = offsets::OffsetStore::open(partition, dir)?;
    let producer_ids = producer_ids::ProducerIds::open(dir)?;
    // From here on the data may change: a crash must lead to a full recovery.
    if clean {
        std::fs::remove_file(&marker).map_err(|e| LogError::io("remove marker", &marker, e))?;
        fsync_dir(dir)?;
    }
    Ok(Storage {
        topics,
        offsets,
        producer_ids,
    })
}

/// Binds a listener and prepares what its connections need (TLS acceptor, advertised
/// address).
async fn bind(l: &config::Listener) -> Result<server::Bound, BrokerError> {
    let tls = if l.protocol.tls() {
        Some(auth::tls::acceptor(l)?)
    } else {
        None
    };
    let socket = TcpListener::bind(&l.listen)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: l.listen.clone(),
            source,
        })?;
    let local = socket.local_addr().map_err(|source| BrokerError::Bind {
        addr: l.listen.clone(),
        source,
    })?;
    let advertised = match &l.advertised {
        Some(a) => a.clone(),
        None => local.to_string(),
    };
    let (host, port) = parse_host_port(&advertised)?;
    Ok(server::Bound {
        socket,
        info: Arc::new(auth::ListenerInfo {
            name: l.name.clone(),
            protocol: l.protocol,
            advertised: advertised.clone(),
            host,
            port,
            mechanisms: l.sasl_mechanisms.clone(),
        }),
        tls,
    })
}

fn acl_source(cfg: &BrokerConfig) -> Option<acl::store::Source> {
    match (&cfg.acl_file, &cfg.acl_url) {
        (Some(f), _) => Some(acl::store::Source::File(f.clone())),
        (None, Some(u)) => Some(acl::store::Source::Url(u.clone())),
        (None, None) => None,
    }
}

/// Rereads the ACL source and the users file every `acl_refresh_ms`, and when woken
/// ([`BrokerHandle::reload_security`], e.g. on SIGHUP). Failures keep what is in force.
async fn security_loop(broker: Arc<Broker>, wake: Arc<tokio::sync::Notify>) {
    let period = Duration::from_millis(broker.cfg.acl_refresh_ms.max(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => {}
            _ = wake.notified() => tracing::info!("rereading the ACLs and users"),
        }
        let b = broker.clone();
        let r = tokio::task::spawn_blocking(move || {
            let users = b.users.reload().map_err(|e| e.to_string());
            let acl = b.authz.enabled().then(|| b.authz.reload(&b.metrics));
            (users, acl)
        })
        .await;
        let (users, acl) = match r {
            Ok(x) => x,
            Err(e) => {
                tracing::error!(error = %e, "security reload task failed");
                continue;
            }
        };
        if let Err(e) = users {
            tracing::error!(error = %e, "users file unusable: the users in force stay");
        }
        match acl {
            // Logged at error when the failure changes, not on every read of a broken source.
            Some(acl::Reload::Failed(why)) if last_error.as_deref() != Some(why.as_str()) => {
                tracing::error!(error = %why, "ACL source unusable: the last good rules stay in force");
                last_error = Some(why);
            }
            Some(acl::Reload::Ok { .. }) if last_error.take().is_some() => {
                tracing::info!("ACL source usable again");
            }
            _ => {}
        }
    }
}

fn parse_host_port(s: &str) -> Result<(String, i32), BrokerError> {
    let bad = || BrokerError::AdvertisedListener(s.to_string());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), i32::from(port)))
}

async fn session_loop(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(SESSION_CHECK_INTERVAL);
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => broker.groups.expire_sessions(),
        }
    }
}

/// Retention (and compaction) per topic, with each topic's effective settings.
async fn retention_loop(broker: Arc<Broker>) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    loop {
        tokio::select! {
            _ = broker.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let b = broker.clone();
        let r = tokio::task::spawn_blocking(move || apply_retention(&b)).await;
        if let Err(e) = r {
            tracing::error!(error = %e, "retention task failed");
        }
    }
}

fn apply_retention(b: &Broker) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for t in b.topics.all() {
        let e = t.effective(&b.cfg);
        if e.cleanup.compact {
            for p in &t.partitions {
                compact(&t.name, p, now_ms);
            }
        }
        if !e.cleanup.delete || (e.retention_bytes.is_none() && e.retention_ms.is_none()) {
            continue;
        }
        for p in &t.partitions {
            let r = p
                .log()
                .apply_retention(now_ms, e.retention_bytes, e.retention_ms);
            match r {
                Ok(deleted) => {
                    for path in deleted {
                        tracing::info!(path = %path.display(), "retention deleted segment");
                    }
                }
                Err(e) => {
                    tracing::error!(topic = %t.name, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }
}

/// Compacts a partition's closed segments when a segment closed since the last pass.
fn compact(topic: &str, p: &partition::Partition, now_ms: i64) {
    let mut log = p.log();
    if !log.needs_compaction() {
        return;
    }
    match log.compact(now_ms, topic_config::DELETE_RETENTION_MS) {
        Ok(c) => tracing::info!(
            topic,
            partition = p.index,
            records_removed = c.records_removed,
            segments_before = c.segments_before,
            segments_after = c.segments_after,
            bytes_before = c.bytes_before,
            bytes_after = c.bytes_after,
            "compacted"
        ),
        Err(e) => tracing::error!(topic, partition = p.index, error = %e, "compaction failed"),
    }
}

impl BrokerHandle {
    /// Handles one request frame body (no length prefix) as a connection would, without a
    /// socket; see [`server::handle_frame`]. For fuzzing and protocol tests.
    pub async fn handle_frame(&self, frame: bytes::Bytes) -> Result<Option<bytes::Bytes>, String> {
        let info = self.broker.listeners[0].clone();
        server::handle_frame(&self.broker, frame, info, self.local_addr).await
    }

    /// Serves one in-memory connection on listener `name` (TLS handshake, SASL, requests)
    /// with `input` as everything the client sends; returns everything the broker sent back.
    /// For fuzzing the handshake paths; `None` if there is no such listener.
    pub async fn serve_bytes(&self, name: &str, input: &[u8]) -> Option<Vec<u8>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let info = self
            .broker
            .listeners
            .iter()
            .find(|l| l.name == name)?
            .clone();
        let tls = if info.protocol.tls() {
            let l = self
                .broker
                .cfg
                .listeners()
                .into_iter()
                .find(|l| l.name == name)?;
            Some(auth::tls::acceptor(&l).ok()?)
        } else {
            None
        };
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (mut rd, mut wr) = tokio::io::split(client);
        let conn = tokio::spawn(server::serve_stream(
            self.broker.clone(),
            server,
            self.local_addr,
            info,
            tls,
        ));
        let mut out = Vec::new();
        let (w, r) = tokio::join!(
            async {
                let _ = wr.write_all(input).await;
                let _ = wr.shutdown().await;
            },
            tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = rd.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&buf[..n]);
                }
            })
        );
        let _ = (w, r);
        drop(rd);
        let _ = conn.await;
        Some(out)
    }

    /// The first listener's bound address.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// The bound address of listener `name` ("PLAINTEXT" for `listen`).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Reread the ACLs and the users file now (what `logferry broker` does on SIGHUP).
    pub fn reload_security(&self) {
        self.reload.notify_one();
    }

    /// The generation of the ACLs in force (bumped by every change).
    pub fn acl_generation(&self) -> u64 {
        self.broker.authz.generation()
    }

    /// Register the broker's metrics (refreshed from the log at each call of `refresh`).
    pub fn register_metrics(&self, reg: &mut prometheus_client::registry::Registry) {
        self.broker.metrics.register(reg);
    }

    /// Read log end offsets and consumer lag into the metrics before a scrape.
    pub fn refresh_metrics(&self) {
        self.broker.metrics.refresh(&self.broker);
    }

    /// "host:port" to give to bootstrap.servers: the first listener's advertised address.
    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// A read-only handle on the broker's state for operators' views ([`snapshot`]), which
    /// a web console can hold without owning the broker. Drop it before [`Self::shutdown`]
    /// returns the storage: it keeps the broker's state alive.
    pub fn view(&self) -> BrokerView {
        BrokerView {
            broker: self.broker.clone(),
        }
    }

    /// Stops accepting, finishes in-flight requests, flushes, writes the clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        self.shutdown.cancel();
        // Parked joins/syncs would otherwise hold their connections until a timeout.
        self.broker.groups.close();
        for a in self.accept {
            if let Err(e) = a.await {
                tracing::error!(error = %e, "accept loop failed");
            }
        }
        for t in self.background {
            let _ = t.await;
        }
        let broker = self.broker;
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || close_storage(&broker, &dir))
            .await
            .map_err(|e| BrokerError::Task(e.to_string()))??;
        tracing::info!(data_dir = %self.data_dir.display(), "broker stopped cleanly");
        Ok(())
    }
}

/// See [`BrokerHandle::view`].
#[derive(Clone)]
pub struct BrokerView {
    broker: Arc<Broker>,
}

impl BrokerView {
    /// One page of topics, partitions and groups (see [`snapshot::snapshot`]).
    pub fn snapshot(&self, paging: snapshot::Paging) -> snapshot::BrokerSnapshot {
        snapshot::snapshot(&self.broker, paging)
    }

    /// Page `page` of the ACLs in force, their generation and the last reload's outcome;
    /// None when ACLs are off (see [`acl::view::snapshot`]).
    pub fn acls(&self, page: usize, per_page: usize) -> Option<acl::view::AclSnapshot> {
        acl::view::snapshot(&self.broker.authz, page, per_page)
    }

    /// Adds one ACL rule through the store CreateAcls uses; returns the generation in force.
    /// Blocking (writes the ACL file).
    pub fn add_acl(&self, rule: &acl::view::AclRule) -> Result<u64, acl::view::AclEditError> {
        acl::view::add(&self.broker.authz, rule, &self.broker.metrics)
    }

    /// Removes one ACL rule through the store DeleteAcls uses; returns how many bindings went
    /// and the generation in force. Blocking (writes the ACL file).
    pub fn remove_acl(
        &self,
        rule: &acl::view::AclRule,
    ) -> Result<(usize, u64), acl::view::AclEditError> {
        acl::view::remove(&self.broker.authz, rule, &self.broker.metrics)
    }

    /// Each topic's summed end offsets (see [`snapshot::end_offsets`]).
    pub fn end_offsets(&self) -> Vec<(String, i64)> {
        snapshot::end_offsets(&self.broker)
    }

    /// See [`BrokerHandle::register_metrics`].
    pub fn register_metrics(&self, reg: &mut prometheus_client::registry::Registry) {
        self.broker.metrics.register(reg);
    }

    /// See [`BrokerHandle::refresh_metrics`].
    pub fn refresh_metrics(&self) {
        self.broker.metrics.refresh(&self.broker);
    }
}

fn close_storage(broker: &Broker, dir: &Path) -> Result<(), BrokerError> {
    broker.flusher.stop();
    for t in broker.topics.all() {
        for p in &t.partitions {
            let mut log = p.log();
            log.close()?;
            p.publish_flushed(log.next_offset());
        }
    }
    let marker = dir.join(CLEAN_SHUTDOWN_MARKER);
    std::fs::File::create(&marker)
        .and_then(|f| f.sync_all())
        .map_err(|e| LogError::io("write marker", &marker, e))?;
    fsync_dir(dir)?;
    Ok(())
}

/// Runs a broker until `shutdown` completes, then stops it cleanly. Installs no signal
/// handlers: the caller decides what ends it (`logferry broker` passes SIGINT/SIGTERM).
pub async fn serve(
    cfg: BrokerConfig,
    data_dir: PathBuf,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), BrokerError> {
    let handle = start(cfg, data_dir).await?;
    shutdown.await;
    handle.shutdown().await
}
