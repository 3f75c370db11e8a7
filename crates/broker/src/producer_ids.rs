//! Producer id allocation, unique across restarts: ids are handed out from blocks whose end
//! is persisted (tmp + fsync + rename + dir fsync) before any id of the block is used.

use super::log::LogError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const FILE_NAME: &str = "producer-id-block";
const BLOCK: i64 = 1000;

pub struct ProducerIds {
    dir: PathBuf,
    /// (next id to hand out, end of the persisted block (exclusive)).
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn open(dir: &Path) -> Result<ProducerIds, LogError> {
        let path = dir.join(FILE_NAME);
        let next = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<i64>().unwrap_or(0).max(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(LogError::io("read", &path, e)),
        };
        Ok(ProducerIds {
            dir: dir.to_path_buf(),
            state: Mutex::new((next, next)),
        })
    }

    /// A producer id never returned before, by this or an earlier run. Blocking (may fsync).
    pub fn allocate(&self) -> Result<i64, LogError> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0 >= st.1 {
            let end = st.0 + BLOCK;
            let path = self.dir.join(FILE_NAME);
            logferry_fsutil::replace(
                &path,
                end.to_string().as_bytes(),
                logferry_fsutil::Durability::Durable,
            )
            .map_err(|e| LogError::io("write", &path, e))?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = ProducerIds::open(dir.path()).expect("open");
        let x = a.allocate().expect("id");
        let y = a.allocate().expect("id");
        assert_ne!(x, y);
        let b = ProducerIds::open(dir.path()).expect("reopen");
        let z = b.allocate().expect("id");
        assert!(z > y);
    }
}
