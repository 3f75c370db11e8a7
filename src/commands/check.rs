//! `logferry check`: validate the config, then show per section the files that would ship,
//! in order, with their checkpointed offsets.

use crate::agent::checkpoint::CheckpointStore;
use crate::config::{Config, ConfigError};
use std::io::Write;
use std::path::Path;

/// `logferry check`: validate, then list per section the files that would ship, in order,
/// with their checkpointed offsets. Returns false if any section has a problem; a missing
/// `log_base_path` is a warning, not a problem.
pub fn check(config_path: &Path, out: &mut dyn Write) -> Result<bool, ConfigError> {
    let config = Config::load(config_path)?;
    let mut ok = true;
    let _ = writeln!(out, "config {} is valid", config_path.display());
    for s in &config.sections {
        let store = CheckpointStore::new(&config.agent.state_dir, &s.checkpoint_name);
        let _ = writeln!(
            out,
            "\n[topic.{}] -> topic \"{}\", checkpoint {}",
            s.name,
            s.topic,
            store.path().display()
        );
        let offline = match super::status::offline_queue(s, &config) {
            Ok(q) => q,
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "  ERROR {e}");
                continue;
            }
        };
        if let Some(w) = &offline.missing_dir {
            // Not an error: the running agent waits for the directory and starts shipping
            // when it appears, so a packaged config with sections for logs this host does
            // not have yet still passes.
            let _ = writeln!(out, "  WARNING {w}");
        }
        let (queue, faults) = (offline.queue, offline.faults);
        for f in faults {
            ok = false;
            let _ = writeln!(out, "  ERROR {f}");
        }
        let files = queue.ordered();
        if files.is_empty() {
            let _ = writeln!(out, "  (no matching files yet)");
        }
        for f in files {
            let state = if f.acked >= f.size {
                "shipped"
            } else {
                "to ship"
            };
            let _ = writeln!(
                out,
                "  {:<60} offset {:>12} / {:<12} {}",
                f.path.display(),
                f.acked,
                f.size,
                state
            );
        }
    }
    Ok(ok)
}
