//! Where the ACLs come from and where they go: the source (the local TOML file, or a plain
//! HTTP GET of the same text), the last good copy (`acl_backup_path`), and edits by the ACL
//! admin APIs (the file is edited in place with toml_edit, so an operator's comments and
//! layout stay; written with tmp + fsync + rename).

use super::rules::{self, AclSet, Binding, HostMatch, Op, Pattern, Permission, ResourceType};
use logferry_fsutil::{replace, Durability};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a remote source may take to answer.
const URL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest ACL text read from a source.
const MAX_ACL_BYTES: u64 = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("GET {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{what} is invalid: {source}")]
    Invalid {
        what: String,
        #[source]
        source: rules::ParseError,
    },
    #[error("write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the ACLs come from {0}, which is read-only here: change them there")]
    ReadOnly(String),
    #[error("the ACL file cannot be edited: {0}")]
    Edit(String),
}

/// Reads the source's text (blocking).
pub fn read_source(source: &Source) -> Result<String, StoreError> {
    match source {
        Source::File(p) => read_file(p),
        Source::Url(u) => {
            let resp = ureq::get(u)
                .timeout(URL_TIMEOUT)
                .call()
                .map_err(|e| StoreError::Http {
                    url: u.clone(),
                    reason: e.to_string(),
                })?;
            let mut text = String::new();
            use std::io::Read;
            resp.into_reader()
                .take(MAX_ACL_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| StoreError::Http {
                    url: u.clone(),
                    reason: e.to_string(),
                })?;
            Ok(text)
        }
    }
}

fn read_file(p: &Path) -> Result<String, StoreError> {
    std::fs::read_to_string(p).map_err(|source| StoreError::Read {
        path: p.display().to_string(),
        source,
    })
}

/// Parses `text` read from `what`.
pub fn parse(text: &str, what: &str) -> Result<AclSet, StoreError> {
    rules::parse(text).map_err(|source| StoreError::Invalid {
        what: what.to_string(),
        source,
    })
}

/// Reads and parses the last good copy.
pub fn read_backup(path: &Path) -> Result<(AclSet, String), StoreError> {
    let text = read_file(path)?;
    let set = parse(&text, &format!("backup {}", path.display()))?;
    Ok((set, text))
}

/// Keeps `text` as the last good copy (durably, atomically).
pub fn write_backup(path: &Path, text: &str) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    replace(path, text.as_bytes(), Durability::Durable).map_err(|source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A binding as the ACL admin APIs carry it (one operation).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBinding {
    pub permission: Permission,
    pub op: Op,
    pub resource: ResourceType,
    pub pattern: Pattern,
    /// "User:alice", "ClientId:x", "GroupId:g".
    pub principal: String,
    pub host: HostMatch,
}

/// Appends bindings to the ACL file; returns the new text (already validated and written).
pub fn append(path: &Path, new: &[NewBinding]) -> Result<String, StoreError> {
    let mut doc = load_doc(path)?;
    let acl = doc
        .entry("acl")
        .or_insert(toml_edit::Item::ArrayOfTables(
            toml_edit::ArrayOfTables::new(),
        ))
        .as_array_of_tables_mut()
        .ok_or_else(|| StoreError::Edit("`acl` is not an array of tables".to_string()))?;
    for b in new {
        acl.push(entry_table(b));
    }
    save(path, doc.to_string())
}

/// Removes the given (rule, operation) pairs from the file: an operation leaves its entry's
/// `operations`, an entry left with none is removed. Returns the new text.
pub fn remove(path: &Path, remove: &[(usize, Op)]) -> Result<String, StoreError> {
    let mut doc = load_doc(path)?;
    let Some(acl) = doc.get_mut("acl").and_then(|i| i.as_array_of_tables_mut()) else {
        return Ok(doc.to_string());
    };
    let mut empty = Vec::new();
    for (i, t) in acl.iter_mut().enumerate() {
        let rule = i + 1;
        let gone: Vec<&str> = remove
            .iter()
            .filter(|(r, _)| *r == rule)
            .map(|(_, o)| o.as_str())
            .collect();
        if gone.is_empty() {
            continue;
        }
        if let Some(ops) = t.get_mut("operations").and_then(|o| o.as_array_mut()) {
            ops.retain(|v| !v.as_str().is_some_and(|s| gone.contains(&s)));
            if ops.is_empty() {
                empty.push(i);
            }
        }
    }
    for i in empty.into_iter().rev() {
        acl.remove(i);
    }
    save(path, doc.to_string())
}

fn load_doc(path: &Path) -> Result<toml_edit::DocumentMut, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(StoreError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    // Never edit a file that is not valid as it stands: the edit would be based on rules
    // that are not the ones in force.
    parse(&text, &path.display().to_string())?;
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| StoreError::Edit(e.to_string()))
}

fn save(path: &Path, text: String) -> Result<String, StoreError> {
    parse(&text, "the edited ACL file")?;
    replace(path, text.as_bytes(), Durability::Durable).map_err(|source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text)
}

fn entry_table(b: &NewBinding) -> toml_edit::Table {
    let mut t = toml_edit::Table::new();
    t["permission"] = toml_edit::value(match b.permission {
        Permission::Allow => "allow",
        Permission::Deny => "deny",
    });
    let mut ops = toml_edit::Array::new();
    ops.push(b.op.as_str());
    t["operations"] = toml_edit::value(ops);
    let (key, name) = match (&b.resource, &b.pattern) {
        (ResourceType::Topic, Pattern::Literal(n)) => ("topic", n.clone()),
        (ResourceType::Topic, Pattern::Prefix(n)) => ("topic_prefix", n.clone()),
        (ResourceType::Group, Pattern::Literal(n)) => ("group", n.clone()),
        (ResourceType::Group, Pattern::Prefix(n)) => ("group_prefix", n.clone()),
        (ResourceType::Cluster, _) => ("cluster", String::new()),
    };
    if key == "cluster" {
        t["cluster"] = toml_edit::value(true);
    } else {
        t[key] = toml_edit::value(name);
    }
    t["principal"] = toml_edit::value(b.principal.clone());
    if b.host != HostMatch::Any {
        t["host"] = toml_edit::value(b.host.to_string());
    }
    t
}

/// The binding of `b` as the store keeps it, to compare with bindings read back.
pub fn same(b: &Binding, n: &NewBinding) -> bool {
    b.permission == n.permission
        && b.op == n.op
        && b.resource == n.resource
        && b.pattern == n.pattern
        && b.principal.to_string() == n.principal
        && b.host == n.host
}
