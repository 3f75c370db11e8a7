//! The topic registry: topics made of partitions, loaded from the data directory at start
//! and created on demand. Partition `p` of topic `t` lives in `<data_dir>/<t>-<p>/`.

use super::config::BrokerConfig;
use super::log::{fsync_dir, LogError, LogOptions};
use super::partition::Partition;
use super::topic_config::{
    ConfigError, Effective, TopicOverrides, CLEANUP_POLICY, OFFSETS_SEGMENT_BYTES, SEGMENT_BYTES,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

/// Kafka's limit; also keeps directory names sane.
const MAX_TOPIC_NAME: usize = 249;
/// Upper bound on partitions per topic, so a request cannot make the broker create
/// millions of directories.
pub const MAX_PARTITIONS: i32 = 1024;

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Holds a topic's id (canonical UUID text) in its partition 0 directory.
const TOPIC_ID_FILE: &str = "topic-id";
/// Holds a topic's config overrides (`key=value` lines) in its partition 0 directory.
const TOPIC_CONFIG_FILE: &str = "topic-config";
/// Suffix of a deleted topic's partition directories until they are removed.
const DELETED_SUFFIX: &str = "-delete";

#[derive(Debug)]
pub struct Topic {
    pub name: String,
    /// Stable across restarts (KIP-516): Metadata v10+ reports it, Fetch v13+ names topics
    /// by it.
    pub id: Uuid,
    pub partitions: Vec<Arc<Partition>>,
    /// Shared by every version of this topic (CreatePartitions replaces the `Topic`).
    overrides: Arc<RwLock<TopicOverrides>>,
}

impl Topic {
    /// Internal topics are written by the broker only and flagged in Metadata.
    pub fn is_internal(&self) -> bool {
        is_internal(&self.name)
    }

    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// The topic's config overrides (DescribeConfigs).
    pub fn overrides(&self) -> TopicOverrides {
        self.overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Effective settings: overrides on top of the broker's.
    pub fn effective(&self, cfg: &BrokerConfig) -> Effective {
        self.overrides().effective(cfg)
    }
}

/// Why a topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("invalid topic name {0:?}")]
    InvalidName(String),
    #[error("invalid partition count {0}")]
    InvalidPartitions(i32),
    #[error("topic {0} already exists")]
    AlreadyExists(String),
    #[error("topic {0} is not auto-created (internal namespace)")]
    NoAutoCreate(String),
    #[error("unknown topic {0}")]
    Unknown(String),
    #[error("topic {0} is internal")]
    Internal(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] LogError),
}

pub fn is_internal(name: &str) -> bool {
    name == OFFSETS_TOPIC
}

/// A fresh random topic id. std's `RandomState` is seeded from the OS per instance, so two
/// hashes of it give 128 unpredictable bits without another dependency.
fn new_topic_id() -> Uuid {
    use std::hash::{BuildHasher, Hasher};
    loop {
        let mut words = [0u64; 2];
        for w in &mut words {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0),
            );
            *w = h.finish();
        }
        let id = Uuid::from_u64_pair(words[0], words[1]);
        // Kafka reserves the zero and "metadata topic" (…01) ids.
        if id.as_u128() > 1 {
            return id;
        }
    }
}

/// The id stored in partition 0's directory, or a new one written there.
fn load_or_create_id(dir: &Path, name: &str) -> Result<Uuid, LogError> {
    let path = dir.join(format!("{name}-0")).join(TOPIC_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            if let Ok(id) = Uuid::parse_str(s.trim()) {
                return Ok(id);
            }
            tracing::warn!(path = %path.display(), "unreadable topic id; assigning a new one");
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LogError::io("read topic id", &path, e)),
    }
    let id = new_topic_id();
    logferry_fsutil::replace(
        &path,
        id.to_string().as_bytes(),
        logferry_fsutil::Durability::Durable,
    )
    .map_err(|e| LogError::io("write topic id", &path, e))?;
    Ok(id)
}

/// Topic names Kafka accepts: 1..=249 of `[A-Za-z0-9._-]`, not "." or "..".
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

pub struct Topics {
    dir: PathBuf,
    /// The broker's settings: defaults under each topic's overrides.
    cfg: BrokerConfig,
    default_partitions: i32,
    map: RwLock<HashMap<String, Arc<Topic>>>,
}

impl Topics {
    /// Opens every partition directory found in `dir` (recovering it) and removes what a
    /// deletion left behind.
    pub fn load(dir: &Path, cfg: &BrokerConfig, clean: bool) -> Result<Topics, LogError> {
        let mut found: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| LogError::io("list data dir", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LogError::io("list data dir", dir, e))?;
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(DELETED_SUFFIX) {
                // A deletion renamed it, then stopped before removing it.
                remove_deleted(&entry.path());
                continue;
            }
            let Some((topic, part)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(part) = part.parse::<i32>() else {
                continue;
            };
            if valid_topic_name(topic) && (0..MAX_PARTITIONS).contains(&part) {
                found.entry(topic.to_string()).or_default().push(part);
            }
        }
        let mut map = HashMap::new();
        for (name, parts) in found {
            // Fill gaps: a topic always has partitions 0..=max.
            let count = parts.iter().copied().max().unwrap_or(0) + 1;
            let overrides = load_overrides(dir, &name)?;
            let topic = open_topic(dir, &name, count, overrides, cfg, clean)?;
            tracing::info!(topic = %name, partitions = count, "loaded topic");
            map.insert(name, Arc::new(topic));
        }
        Ok(Topics {
            dir: dir.to_path_buf(),
            cfg: cfg.clone(),
            default_partitions: cfg.num_partitions.clamp(1, MAX_PARTITIONS as u32) as i32,
            map: RwLock::new(map),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.read().values().find(|t| t.id == id).cloned()
    }

    /// The topic, auto-created with the default partition count when missing. Names starting
    /// with `__` are never auto-created (they are Kafka's internal namespace).
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        if name.starts_with("__") {
            return Err(TopicError::NoAutoCreate(name.to_string()));
        }
        match self.create(name, self.default_partitions, TopicOverrides::default()) {
            Err(TopicError::AlreadyExists(_)) => self
                .get(name)
                .ok_or_else(|| TopicError::AlreadyExists(name.to_string())),
            other => other,
        }
    }

    /// Creates a topic with `partitions` partitions and the given (validated) overrides.
    pub fn create(
        &self,
        name: &str,
        partitions: i32,
        overrides: TopicOverrides,
    ) -> Result<Arc<Topic>, TopicError> {
        if !valid_topic_name(name) {
            return Err(TopicError::InvalidName(name.to_string()));
        }
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        // Held across creation so two requests cannot create the same topic twice.
        let mut map = self.write();
        if map.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        // The overrides first: a topic never exists on disk without them.
        if !overrides.0.is_empty() {
            save_overrides(&self.dir, name, &overrides)?;
        }
        let topic = open_topic(&self.dir, name, partitions, overrides, &self.cfg, true)?;
        let topic = Arc::new(topic);
        fsync_dir(&self.dir)?;
        tracing::info!(topic = %name, partitions, "created topic");
        map.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    /// `__consumer_offsets`: created (one partition, compacted) when missing; an existing one
    /// (e.g. auto-created as an ordinary topic by an earlier version) gets the internal
    /// settings.
    pub fn ensure_offsets_topic(&self) -> Result<Arc<Topic>, TopicError> {
        let mut o = TopicOverrides::default();
        o.0.insert(CLEANUP_POLICY.into(), "compact".into());
        o.0.insert(SEGMENT_BYTES.into(), OFFSETS_SEGMENT_BYTES.to_string());
        match self.get(OFFSETS_TOPIC) {
            Some(t) if t.overrides() == o => Ok(t),
            Some(_) => {
                self.set_overrides(OFFSETS_TOPIC, o)?;
                self.get(OFFSETS_TOPIC)
                    .ok_or_else(|| TopicError::Unknown(OFFSETS_TOPIC.into()))
            }
            None => self.create(OFFSETS_TOPIC, 1, o),
        }
    }

    /// Replaces a topic's overrides (already validated): persisted first, then applied (the
    /// segment size to the partitions' logs; retention and max message size are read from
    /// the topic where they are used).
    pub fn set_overrides(&self, name: &str, overrides: TopicOverrides) -> Result<(), TopicError> {
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        save_overrides(&self.dir, name, &overrides)?;
        let segment_bytes = overrides.effective(&self.cfg).segment_bytes;
        *topic.overrides.write().unwrap_or_else(|e| e.into_inner()) = overrides;
        for p in &topic.partitions {
            p.log().set_segment_bytes(segment_bytes);
        }
        tracing::info!(topic = %name, "topic config changed");
        Ok(())
    }

    /// Grows a topic to `count` partitions (CreatePartitions). Existing partitions keep their
    /// data; holders of the old `Topic` see the old partition list until they look it up again.
    pub fn add_partitions(&self, name: &str, count: i32) -> Result<Arc<Topic>, TopicError> {
        let mut map = self.write();
        let old = map
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let have = old.partitions.len() as i32;
        if count <= have || count > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(count));
        }
        let opts = log_options(&old.effective(&self.cfg), &self.cfg);
        let mut partitions = old.partitions.clone();
        for p in have..count {
            let pdir = self.dir.join(format!("{name}-{p}"));
            partitions.push(Arc::new(Partition::open(name, p, &pdir, opts, true)?));
        }
        fsync_dir(&self.dir)?;
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            id: old.id,
            partitions,
            overrides: old.overrides.clone(),
        });
        map.insert(name.to_string(), topic.clone());
        tracing::info!(topic = %name, from = have, to = count, "added partitions");
        Ok(topic)
    }

    /// Deletes a topic: its directories are renamed away (durably) while the registry lock is
    /// held, then removed. A crash in between leaves `*-delete` directories that the next
    /// start removes.
    pub fn delete(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let mut map = self.write();
        let topic = map
            .get(name)
            .cloned()
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        if topic.is_internal() {
            return Err(TopicError::Internal(name.to_string()));
        }
        let mut renamed = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let from = self.dir.join(format!("{name}-{}", p.index));
            let to = self.dir.join(format!(
                "{name}-{}.{}{DELETED_SUFFIX}",
                p.index,
                topic.id.simple()
            ));
            std::fs::rename(&from, &to)
                .map_err(|e| LogError::io("rename for deletion", &from, e))?;
            renamed.push(to);
        }
        map.remove(name);
        fsync_dir(&self.dir)?;
        drop(map);
        for d in renamed {
            remove_deleted(&d);
        }
        tracing::info!(topic = %name, "deleted topic");
        Ok(topic)
    }
}

/// Removes a renamed-away directory of a deleted topic; a failure is logged (the next start
/// retries).
fn remove_deleted(path: &Path) {
    match std::fs::remove_dir_all(path) {
        Ok(()) => tracing::info!(path = %path.display(), "removed deleted partition"),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove deleted partition")
        }
    }
}

fn log_options(e: &Effective, cfg: &BrokerConfig) -> LogOptions {
    LogOptions {
        segment_bytes: e.segment_bytes,
        max_batch_bytes: cfg.max_request_bytes,
    }
}

fn config_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}-0")).join(TOPIC_CONFIG_FILE)
}

/// The overrides saved for a topic (none when the file is missing); unusable lines are
/// logged and skipped.
fn load_overrides(dir: &Path, name: &str) -> Result<TopicOverrides, LogError> {
    let path = config_path(dir, name);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (o, skipped) = TopicOverrides::from_properties(&text);
            for line in skipped {
                tracing::warn!(path = %path.display(), line = %line, "ignoring topic config line");
            }
            Ok(o)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TopicOverrides::default()),
        Err(e) => Err(LogError::io("read topic config", &path, e)),
    }
}

fn save_overrides(dir: &Path, name: &str, o: &TopicOverrides) -> Result<(), LogError> {
    let path = config_path(dir, name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| LogError::io("create partition dir", parent, e))?;
    }
    logferry_fsutil::replace(
        &path,
        o.to_properties().as_bytes(),
        logferry_fsutil::Durability::Durable,
    )
    .map_err(|e| LogError::io("write topic config", &path, e))
}

fn open_topic(
    dir: &Path,
    name: &str,
    count: i32,
    overrides: TopicOverrides,
    cfg: &BrokerConfig,
    clean: bool,
) -> Result<Topic, LogError> {
    let opts = log_options(&overrides.effective(cfg), cfg);
    let mut partitions = Vec::with_capacity(count as usize);
    for p in 0..count {
        let pdir = dir.join(format!("{name}-{p}"));
        partitions.push(Arc::new(Partition::open(name, p, &pdir, opts, clean)?));
    }
    let id = load_or_create_id(dir, name)?;
    Ok(Topic {
        name: name.to_string(),
        id,
        partitions,
        overrides: Arc::new(RwLock::new(overrides)),
    })
}

#[cfg(test)]
mod tests {
    use super::valid_topic_name;

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("logs.app-1_x"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name("a/b"));
        assert!(!valid_topic_name(&"x".repeat(250)));
    }
}
