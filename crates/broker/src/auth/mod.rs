//! Authentication: what a connection is (its listener, its peer, its principal), TLS
//! (`tls`), SASL over Kafka's SaslHandshake/SaslAuthenticate (`sasl`) with PLAIN and
//! SCRAM-SHA-256/512 (`scram`) against the users file (`credentials`).

pub mod credentials;
pub mod sasl;
pub mod scram;
pub mod tls;

use crate::config::{SaslMechanism, SecurityProtocol};
use credentials::Credentials;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// The principal of a client that did not authenticate (Kafka's).
pub const ANONYMOUS: &str = "ANONYMOUS";

/// A listener as connections see it.
#[derive(Debug)]
pub struct ListenerInfo {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// "host:port" as configured (or bound).
    pub advertised: String,
    /// Advertised host and port (Metadata, FindCoordinator, DescribeCluster).
    pub host: String,
    pub port: i32,
    pub mechanisms: Vec<SaslMechanism>,
}

/// One connection's identity.
#[derive(Debug)]
pub struct Session {
    pub listener: Arc<ListenerInfo>,
    pub peer: SocketAddr,
    /// SASL user, TLS subject, or ANONYMOUS.
    pub user: String,
    /// The group this connection last named (JoinGroup, OffsetCommit, ...).
    pub group: Option<String>,
}

impl Session {
    pub fn new(listener: Arc<ListenerInfo>, peer: SocketAddr, user: String) -> Session {
        Session {
            listener,
            peer,
            user,
            group: None,
        }
    }
}

/// The users file, reread with the ACLs.
pub struct Users {
    path: Option<PathBuf>,
    current: RwLock<Arc<Credentials>>,
}

impl Users {
    pub fn new(path: Option<PathBuf>) -> Users {
        Users {
            path,
            current: RwLock::new(Arc::new(Credentials::default())),
        }
    }

    pub fn get(&self) -> Arc<Credentials> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Rereads the file; an unreadable or invalid file keeps the users in force. Blocking.
    pub fn reload(&self) -> Result<bool, credentials::CredentialsError> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let c = credentials::load(path)?;
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        if **cur == c {
            return Ok(false);
        }
        tracing::info!(path = %path.display(), users = c.len(), "SASL users loaded");
        *cur = Arc::new(c);
        Ok(true)
    }
}
