//! The bundled single-node Kafka-compatible broker. It knows nothing about log files.
//! (Being built on the `broker` branch; this placeholder only carries the API.)

pub mod config;
pub use config::{BrokerConfig, Flush};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("the bundled broker is not available in this build; set [output] brokers to an external cluster")]
    Unavailable,
}

pub struct BrokerHandle {
    addr: std::net::SocketAddr,
}

impl BrokerHandle {
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
    pub fn bootstrap_servers(&self) -> String {
        self.addr.to_string()
    }
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        Ok(())
    }
}

pub async fn start(_cfg: BrokerConfig, _data_dir: PathBuf) -> Result<BrokerHandle, BrokerError> {
    Err(BrokerError::Unavailable)
}

pub async fn broker_command(
    _listen: Option<String>,
    _data_dir: Option<PathBuf>,
    _config: Option<PathBuf>,
) -> Result<(), BrokerError> {
    Err(BrokerError::Unavailable)
}
