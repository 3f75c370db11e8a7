//! Wakes sections when their directories change: one inotify watcher (the notify crate)
//! shared by all sections, its events routed by directory.
//!
//! Coalescing: after routing a write (a data event), the watcher's thread pauses before it
//! takes the next event, for the shortest read interval of the sections it serves (their
//! `sender_waiting_max_ms`; at most [`PAUSE_MAX`]). Writes to the same file meanwhile queue
//! identical IN_MODIFY events, which the kernel merges into one while unread: under a
//! logger that writes each line with its own write(2), the thread wakes once per pause, not
//! once per line, and no more often than the sections read. Events of other kinds (create,
//! rename, delete) never pause it.

use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("cannot watch directories: {0}")]
pub struct WatchError(#[from] notify::Error);

/// Wakes one section. `rescan` is set for events that change the set of files.
#[derive(Debug, Default)]
pub struct Wake {
    pub notify: tokio::sync::Notify,
    pub rescan: AtomicBool,
    /// How often the section reads at most while lines trickle in: a write event sooner
    /// than this after the last one brings it nothing new.
    interval: Duration,
}

impl Wake {
    pub fn new(interval: Duration) -> Wake {
        Wake {
            interval,
            ..Wake::default()
        }
    }

    pub fn wake(&self, rescan: bool) {
        if rescan {
            self.rescan.store(true, Ordering::Release);
        }
        self.notify.notify_one();
    }

    pub fn rescan_pending(&self) -> bool {
        self.rescan.load(Ordering::Acquire)
    }

    pub fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::AcqRel)
    }
}

type Routes = Arc<Mutex<HashMap<PathBuf, Vec<Arc<Wake>>>>>;

/// The longest the watcher's thread pauses after routing a data event: every directory's
/// events wait behind the pause (a rotation is seen that much later).
pub const PAUSE_MAX: Duration = Duration::from_millis(20);

/// One inotify (notify) watcher shared by all sections; events are routed by directory.
pub struct DirWatcher {
    watcher: Mutex<notify::RecommendedWatcher>,
    routes: Routes,
    watched: Mutex<HashSet<PathBuf>>,
}

impl DirWatcher {
    pub fn new() -> Result<DirWatcher, WatchError> {
        let routes: Routes = Arc::default();
        let r = routes.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let pause;
            {
                let Ok(routes) = r.lock() else { return };
                let mut routed_data = false;
                match res {
                    Ok(ev) => {
                        let data = matches!(
                            ev.kind,
                            EventKind::Modify(notify::event::ModifyKind::Data(_))
                        );
                        let rescan = !data && !matches!(ev.kind, EventKind::Access(_));
                        for p in &ev.paths {
                            if let Some(dir) = p.parent() {
                                for w in routes.get(dir).into_iter().flatten() {
                                    w.wake(rescan);
                                    routed_data |= data;
                                }
                            }
                        }
                        if ev.need_rescan() {
                            routes.values().flatten().for_each(|w| w.wake(true));
                        }
                    }
                    // An overflowed or failed watch: rescan everything.
                    Err(_) => routes.values().flatten().for_each(|w| w.wake(true)),
                }
                // The shortest interval of every section served, not only of those woken:
                // their events wait behind the pause too.
                pause = routed_data.then(|| {
                    routes
                        .values()
                        .flatten()
                        .map(|w| w.interval)
                        .min()
                        .unwrap_or_default()
                        .min(PAUSE_MAX)
                });
            }
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
        })?;
        Ok(DirWatcher {
            watcher: Mutex::new(watcher),
            routes,
            watched: Mutex::default(),
        })
    }

    /// Route events of `dir` to `wake`, and watch `dir` if it exists. Returns whether the
    /// directory is watched; call again later for a directory that did not exist.
    pub fn watch(&self, dir: &Path, wake: &Arc<Wake>) -> bool {
        // notify reports events under the absolute form of a watched path (it joins a relative
        // one to the working directory), so routes are keyed by that form: a relative
        // log_base_path (a config file given by a relative path) must still be woken.
        let absolute = std::path::absolute(dir);
        let dir = absolute.as_deref().unwrap_or(dir);
        if let Ok(mut routes) = self.routes.lock() {
            let v = routes.entry(dir.to_path_buf()).or_default();
            if !v.iter().any(|w| Arc::ptr_eq(w, wake)) {
                v.push(wake.clone());
            }
        }
        let Ok(mut watched) = self.watched.lock() else {
            return false;
        };
        if watched.contains(dir) {
            return true;
        }
        let Ok(mut w) = self.watcher.lock() else {
            return false;
        };
        if w.watch(dir, RecursiveMode::NonRecursive).is_ok() {
            watched.insert(dir.to_path_buf());
            true
        } else {
            false
        }
    }

    /// Stop routing events to `wake` (section stopped).
    pub fn unroute(&self, wake: &Arc<Wake>) {
        if let Ok(mut routes) = self.routes.lock() {
            for v in routes.values_mut() {
                v.retain(|w| !Arc::ptr_eq(w, wake));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory given by a relative path (as a config file given by a relative path
    /// yields) is woken by inotify, not only by the periodic rescan.
    #[tokio::test]
    async fn relative_directory_is_woken() {
        let base = tempfile::tempdir_in(".").expect("tempdir");
        let name = base.path().file_name().expect("name").to_owned();
        let relative = Path::new(".").join(&name);
        assert!(relative.is_relative());
        let watcher = DirWatcher::new().expect("watcher");
        let wake = Arc::new(Wake::default());
        assert!(watcher.watch(&relative, &wake));
        std::fs::write(relative.join("app.log"), b"line\n").expect("write");
        // The guard only bounds a failing run; the test waits for the event itself.
        tokio::time::timeout(Duration::from_secs(30), wake.notify.notified())
            .await
            .expect("no inotify wake for a relative directory");
        assert!(wake.take_rescan());
    }
}
