//! Unit tests of the queue: rotation, copytruncate, inode reuse, restore, ordering.
use super::*;
use crate::agent::codec::Codec;

fn t(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
}

fn entry(path: &str, ino: u64, content: &[u8], mtime: u64) -> ScanEntry {
    ScanEntry {
        path: PathBuf::from(path),
        id: DevIno { dev: 1, ino },
        size: content.len() as u64,
        disk_size: content.len() as u64,
        mtime: t(mtime),
        prefix: Some(content[..content.len().min(256)].to_vec()),
        codec: Codec::Plain,
    }
}

fn q() -> FileQueue {
    FileQueue::new(StartAt::Beginning, Duration::from_secs(5))
}

/// A queue after a restart: `q()`'s settings, resumed from `saved`.
fn restored(saved: &[FileCheckpoint]) -> FileQueue {
    let mut q = q();
    q.restore(saved);
    q
}

/// A rotated file `/l/a.log.1` (ino 1, mtime 10) holding `rotated`, beside the base file
/// `/l/a.log` (ino 2, mtime 11) holding `base`: the rotated one ships first.
fn rotated_beside_base(rotated: &[u8], base: &[u8]) -> FileQueue {
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log.1", 1, rotated, 10),
        entry("/l/a.log", 2, base, 11),
    ]);
    q
}

/// (path, acknowledged offset) of every file, in shipping order.
fn shipping_order(q: &FileQueue) -> Vec<(String, u64)> {
    q.ordered()
        .iter()
        .map(|f| (f.path.display().to_string(), f.acked))
        .collect()
}

fn path_of(q: &FileQueue, k: FileKey) -> String {
    q.get(k).expect("file").path.display().to_string()
}

#[test]
fn orders_by_mtime_and_finishes_only_with_newer_file_and_idle() {
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log", 3, b"c\n", 30),
        entry("/l/a.log.1", 2, b"b\n", 20),
        entry("/l/a.log.2", 1, b"a\n", 10),
    ]);
    let cur = q.current().expect("current");
    assert_eq!(path_of(&q, cur), "/l/a.log.2");
    // Newer files were written after its last write: the writer moved on, no need to wait.
    assert_eq!(q.can_finish(cur, t(12)), Finish::Now);
    q.finish(cur, t(1000));
    let cur = q.current().expect("current");
    assert_eq!(path_of(&q, cur), "/l/a.log.1");
    q.finish(cur, t(1000));
    let cur = q.current().expect("current");
    assert_eq!(path_of(&q, cur), "/l/a.log");
    assert_eq!(q.can_finish(cur, t(1000)), Finish::No);
}

#[test]
fn a_file_is_idle_for_rotate_wait_unless_the_writer_visibly_moved_on() {
    // A newer file in the same mtime tick as this one's last write proves nothing (several
    // writers, coarse timestamps): wait out rotate_wait, then finish.
    let mut q = FileQueue::new(StartAt::Beginning, Duration::from_secs(5))
        .with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"a\n", 10),
        entry("/l/a.log", 2, b"b\n", 10),
    ]);
    let cur = q.current().expect("current");
    assert_eq!(path_of(&q, cur), "/l/a.log.1");
    assert_eq!(q.can_finish(cur, t(12)), Finish::At(t(15)));
    assert_eq!(q.can_finish(cur, t(15)), Finish::Now);
    // The live base itself never finishes early, whatever is written beside it.
    let mut q = FileQueue::new(StartAt::Beginning, Duration::from_secs(5))
        .with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![
        entry("/l/a.log", 1, b"a\n", 10),
        entry("/l/b.log", 2, b"b\n", 11),
    ]);
    let base = q.current().expect("current");
    assert_eq!(path_of(&q, base), "/l/a.log");
    assert_eq!(q.can_finish(base, t(12)), Finish::At(t(15)));
}

#[test]
fn a_late_write_to_a_finished_file_reactivates_it() {
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"a\n", 10),
        entry("/l/a.log", 2, b"b\n", 11),
    ]);
    let old = q.current().expect("current");
    q.set_held(old, true);
    q.get_mut(old).expect("f").read = 2;
    q.finish(old, t(11));
    // Deleted after finishing, but written once more through an old descriptor (a process
    // that had not reopened yet): fstat of the held descriptor shows it.
    q.reconcile(vec![entry("/l/a.log", 2, b"b\n", 11)]);
    assert_eq!(
        q.observe_stat(old, 4, t(12), false),
        Some(Notice::GrewAfterFinish {
            path: PathBuf::from("/l/a.log.1")
        })
    );
    let f = q.get(old).expect("f");
    assert_eq!(
        (f.status, f.read),
        (Status::Active, 2),
        "the late bytes only"
    );
    // It was written last, so it ships after the base file has been caught up with.
    let base = q.current().expect("current");
    assert_eq!(path_of(&q, base), "/l/a.log");
    q.get_mut(base).expect("f").read = 2;
    assert_eq!(q.current(), Some(old));
}

#[test]
fn rename_rotation_with_unsent_lines_ships_old_inode_first() {
    // seed case (b): the only file is renamed away while lines are unsent
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 1, b"l1\nl2\n", 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").read = 3;
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"l1\nl2\n", 10),
        entry("/l/a.log", 2, b"", 11),
    ]);
    assert_eq!(q.current(), Some(cur), "keeps reading the renamed inode");
    assert_eq!(path_of(&q, cur), "/l/a.log.1");
    assert_eq!(q.get(cur).expect("f").read, 3);
    q.finish(cur, t(1000));
    let next = q.current().expect("next");
    assert_eq!(path_of(&q, next), "/l/a.log");
    assert_eq!(q.get(next).expect("f").read, 0);
}

#[test]
fn copytruncate_resumes_in_copy_and_restarts_base() {
    let mut q = q();
    let body = b"line one\nline two\nline three\n";
    q.reconcile(vec![entry("/l/a.log", 1, body, 10)]);
    let cur = q.current().expect("current");
    {
        let f = q.get_mut(cur).expect("f");
        f.read = 18;
        f.acked = 9;
    }
    // copy made, original not truncated yet: the copy is a shadow
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    assert!(matches!(n[0], Notice::Shadowed { .. }), "{n:?}");
    assert_eq!(q.ordered().len(), 1);
    // now truncated and a new line written
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"new\n", 12),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    assert!(
        n.iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 9, .. })),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let order: Vec<(String, u64, u64)> = q
        .ordered()
        .iter()
        .map(|f| (f.path.display().to_string(), f.acked, f.read))
        .collect();
    assert_eq!(
        order,
        vec![
            ("/l/a.log.1".to_string(), 9, 18),
            ("/l/a.log".to_string(), 0, 0)
        ]
    );
    let c = q.current().expect("cur");
    assert_eq!(path_of(&q, c), "/l/a.log.1");
}

#[test]
fn copytruncate_of_a_quiet_base_that_finished_beside_a_newer_file_ships_nothing_twice() {
    // Found by the model test: a base file idle past rotate_wait beside a newer file (here a
    // new rotated-looking file; in the field the previous copy, written after the base's last
    // line) finishes; copytruncate then copies it. The copy must be recognised as the base's
    // content, not shipped again from 0.
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    let body = b"line one\nline two\n";
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.new", 2, b"other\n", 20),
    ]);
    let base = q.current().expect("current");
    assert_eq!(path_of(&q, base), "/l/a.log");
    {
        let f = q.get_mut(base).expect("f");
        f.read = body.len() as u64;
        f.acked = body.len() as u64;
    }
    assert_eq!(q.can_finish(base, t(100)), Finish::Now);
    q.finish(base, t(100));
    // cp made the copy; the base is not truncated yet
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.new", 2, b"other\n", 20),
        entry("/l/a.log.1", 3, body, 101),
    ]);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Shadowed { .. })),
        "{n:?}"
    );
    // truncated, and the application writes on
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"new\n", 102),
        entry("/l/a.log.new", 2, b"other\n", 20),
        entry("/l/a.log.1", 3, body, 101),
    ]);
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let left: Vec<(String, u64, u64)> = q
        .ordered()
        .iter()
        .filter(|f| f.size > f.acked)
        .map(|f| (f.path.display().to_string(), f.acked, f.size))
        .collect();
    assert_eq!(
        left,
        vec![
            ("/l/a.log.new".to_string(), 0, 6),
            ("/l/a.log".to_string(), 0, 4)
        ],
        "the copy was adopted at the base's offset: nothing of it is left to ship"
    );
}

#[test]
fn copy_first_seen_empty_or_partial_is_recognised_before_truncation() {
    let mut q = q();
    let body = b"line one\nline two\nline three\n";
    q.reconcile(vec![entry("/l/a.log", 1, body, 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").read = 18;
    q.get_mut(cur).expect("f").acked = 9;
    // `cp` has created the copy but not written it yet
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, b"", 11),
    ]);
    // partly written
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, &body[..5], 11),
    ]);
    assert_eq!(q.ordered().len(), 1, "partial copy held back");
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"", 12),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    assert!(
        n.iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 9, .. })),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let c = q.current().expect("cur");
    assert_eq!(
        (path_of(&q, c), q.get(c).expect("f").read),
        ("/l/a.log.1".to_string(), 18)
    );
}

#[test]
fn an_empty_newer_file_does_not_finish_the_current_one() {
    let mut q = q();
    let body = b"line one\nline two\n";
    q.reconcile(vec![entry("/l/a.log", 1, body, 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").read = body.len() as u64;
    // `cp a.log a.log.1` has created the copy, not filled it yet
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, b"", 11),
    ]);
    assert_eq!(q.can_finish(cur, t(100)), Finish::No);
    // filled: it is a copy of the live file, held back
    q.reconcile(vec![
        entry("/l/a.log", 1, body, 10),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    assert_eq!(q.ordered().len(), 1);
    assert_eq!(q.current(), Some(cur));
}

#[test]
fn a_new_file_that_only_starts_like_another_is_not_held_back() {
    let mut q = q();
    q.reconcile(vec![entry(
        "/l/a.log.1",
        1,
        b"2026-11-21 09:00 first\n",
        10,
    )]);
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"2026-11-21 09:00 first\n", 10),
        entry("/l/a.log", 2, b"2026-11-21 ", 11),
    ]);
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"2026-11-21 09:00 first\n", 10),
        entry("/l/a.log", 2, b"2026-11-21 10:00 other\n", 12),
    ]);
    assert_eq!(q.ordered().len(), 2, "diverged: shipped as its own file");
}

#[test]
fn a_new_base_file_with_the_same_long_header_is_not_held_back() {
    // A CSV header longer than the fingerprint: every file starts with the same 256 bytes.
    let header = [b'h'; 300];
    let old = [&header[..], b"\nrow 1\n"].concat();
    let new = [&header[..], b"\nrow 2\n"].concat();
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, &old, 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").read = 150;
    // renamed away mid-read (brokers slow), and the application starts a new base file
    q.reconcile(vec![
        entry("/l/a.log.1", 1, &old, 10),
        entry("/l/a.log", 2, &new, 20),
    ]);
    assert_eq!(
        shipping_order(&q),
        vec![("/l/a.log.1".to_string(), 0), ("/l/a.log".to_string(), 0)]
    );
    q.get_mut(cur).expect("f").read = old.len() as u64;
    assert_eq!(
        q.can_finish(cur, t(100)),
        Finish::Now,
        "the new base counts"
    );
    q.finish(cur, t(1000));
    assert_eq!(q.current().map(|k| path_of(&q, k)), Some("/l/a.log".into()));
}

#[test]
fn without_a_base_path_a_new_file_with_the_same_long_header_ships_once_it_outgrows_the_old() {
    // Date-named files, no base_log_fullpath, every file starts with the same 300 bytes.
    let header = [b'h'; 300];
    let old = [&header[..], b"\nrow 1\n"].concat();
    let mut q = q();
    q.reconcile(vec![entry("/l/a-01.log", 1, &old, 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").read = old.len() as u64;
    // The application's next file, still being written: looks like a copy at first...
    let short = [&header[..], b"\nr"].concat();
    q.reconcile(vec![
        entry("/l/a-01.log", 1, &old, 10),
        entry("/l/a-02.log", 2, &short, 20),
    ]);
    assert_eq!(q.ordered().len(), 1, "held back while it may be a copy");
    assert_eq!(q.can_finish(cur, t(21)), Finish::No);
    // ...and is not one once it is longer than its supposed original.
    let longer = [&header[..], b"\nrow 2 is longer\n"].concat();
    q.reconcile(vec![
        entry("/l/a-01.log", 1, &old, 10),
        entry("/l/a-02.log", 2, &longer, 22),
    ]);
    assert_eq!(q.can_finish(cur, t(22)), Finish::Now);
    q.finish(cur, t(1000));
    assert_eq!(
        q.current().map(|k| path_of(&q, k)),
        Some("/l/a-02.log".into())
    );
}

#[test]
fn identical_rotated_files_ship_in_order_without_waiting_for_a_scan() {
    // Byte-identical files (no base path): each later one looks like a copy of an earlier
    // live one, and is released the moment that one is read to its end.
    let body = b"same\n";
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log.3", 3, body, 30),
        entry("/l/a.log.2", 2, body, 20),
        entry("/l/a.log.1", 1, body, 10),
    ]);
    assert_eq!(q.ordered().len(), 1, "two held back as copies");
    let first = q.current().expect("current");
    q.get_mut(first).expect("f").read = body.len() as u64;
    // a copy that was written a moment ago may be a copytruncate in progress
    q.reconcile(vec![
        entry("/l/a.log.3", 3, body, 30),
        entry("/l/a.log.2", 2, body, 20),
        entry("/l/a.log.1", 1, body, 10),
        entry("/l/a.log.0", 4, body, 40),
    ]);
    q.get_mut(first).expect("f").read = 0;
    assert_eq!(q.can_finish(first, t(22)), Finish::No);
    let mut shipped = Vec::new();
    while let Some(cur) = q.current() {
        shipped.push(path_of(&q, cur));
        q.get_mut(cur).expect("f").read = body.len() as u64;
        match q.can_finish(cur, t(1000)) {
            Finish::Now => {
                q.finish(cur, t(1000));
            }
            _ => break,
        }
    }
    assert_eq!(
        shipped,
        vec!["/l/a.log.1", "/l/a.log.2", "/l/a.log.3", "/l/a.log.0"]
    );
}

#[test]
fn copytruncate_seen_only_after_truncation_still_adopts() {
    let mut q = q();
    let body = b"aaaa\nbbbb\n";
    q.reconcile(vec![entry("/l/a.log", 1, body, 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").acked = 5;
    q.get_mut(cur).expect("f").read = 5;
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"", 12),
        entry("/l/a.log.1", 2, body, 11),
    ]);
    assert!(
        n.iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 5, .. })),
        "{n:?}"
    );
    let first = q.current().expect("cur");
    assert_eq!(path_of(&q, first), "/l/a.log.1");
    assert_eq!(q.get(first).expect("f").read, 5);
}

#[test]
fn inode_reuse_starts_at_zero_and_counts_loss() {
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 7, b"old content\n", 10)]);
    let cur = q.current().expect("current");
    q.get_mut(cur).expect("f").acked = 4;
    q.get_mut(cur).expect("f").read = 4;
    // the file was deleted, and a different file got inode 7
    let n = q.reconcile(vec![entry("/l/a.log", 7, b"brand new stuff\n", 20)]);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Lost { bytes: 8, .. })),
        "{n:?}"
    );
    let cur = q.current().expect("current");
    assert_eq!(q.get(cur).expect("f").read, 0);
    assert_eq!(q.get(cur).expect("f").acked, 0);
}

#[test]
fn restore_verifies_fingerprint_and_start_at_end_applies_to_first_scan_only() {
    let mut q = FileQueue::new(StartAt::End, Duration::from_secs(5));
    q.restore(&[FileCheckpoint {
        id: DevIno { dev: 1, ino: 1 },
        fp_len: 3,
        fp_crc: crc32c::crc32c(b"ab\n"),
        path: "/l/a.log.1".into(),
        offset: 3,
        size: 3,
        mtime_ns: 0,
        codec: "plain".into(),
        gone: false,
    }]);
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"ab\ncd\n", 10),
        entry("/l/a.log", 2, b"xyz\n", 11),
    ]);
    let files = shipping_order(&q);
    assert_eq!(
        files,
        vec![("/l/a.log.1".into(), 3), ("/l/a.log".into(), 4)]
    );
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"ab\ncd\n", 10),
        entry("/l/a.log", 2, b"xyz\n", 11),
        entry("/l/b.log", 3, b"later\n", 12),
    ]);
    let b = q
        .ordered()
        .into_iter()
        .find(|f| f.path.ends_with("b.log"))
        .expect("b")
        .acked;
    assert_eq!(b, 0, "files found after the first scan start at 0");
}

#[test]
fn checkpoint_of_a_file_first_seen_empty_still_recognises_copytruncate_after_kill() {
    // Found by the soak: the base file was scanned while empty (fingerprint of 0 bytes),
    // then read and acknowledged without another scan. The checkpoint paired offset 11
    // with an empty fingerprint, which matches any content: after a kill -9, a
    // copytruncate and new writes, the agent resumed the new content at 11 (lost lines).
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 1, b"", 10)]);
    let cur = q.current().expect("current");
    q.observe_head(cur, b"g1 first..\n");
    let f = q.get_mut(cur).expect("f");
    f.read = 11;
    f.acked = 11;
    let saved = q.checkpoint_entries();
    assert_eq!(saved[0].fp_len, 11, "fingerprint covers what was read");

    // Restart after: cp a.log a.log.1 (new inode 2); truncate a.log; new writes.
    let mut q2 = restored(&saved);
    q2.reconcile(vec![
        entry("/l/a.log", 1, b"g2 after the truncate\n", 12),
        entry("/l/a.log.1", 2, b"g1 first..\ng1 more\n", 11),
    ]);
    let files = shipping_order(&q2);
    assert_eq!(
        files,
        vec![("/l/a.log.1".into(), 11), ("/l/a.log".into(), 0)],
        "the copy continues at the checkpoint, the rewritten base starts at 0"
    );
}

#[test]
fn live_base_finished_with_a_partial_line_resumes_when_it_grows_or_is_rotated() {
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, b"l1\npart", 10)]);
    let base = q.current().expect("current");
    q.get_mut(base).expect("f").read = 3;
    assert!(q.is_live_base(base));
    // A newer file appears: the base yields with its partial line held back.
    q.finish(base, t(1000));
    q.reconcile(vec![
        entry("/l/a.log", 1, b"l1\npart", 10),
        entry("/l/b.log", 2, b"b\n", 11),
    ]);
    assert_eq!(
        q.get(base).expect("f").status,
        Status::Finished,
        "no flapping"
    );
    // The application completes the line: the base is read again from the held offset.
    q.reconcile(vec![
        entry("/l/a.log", 1, b"l1\npart-done\n", 12),
        entry("/l/b.log", 2, b"b\n", 11),
    ]);
    assert_eq!(q.get(base).expect("f").status, Status::Active);
    assert_eq!(q.get(base).expect("f").read, 3);
    // Or it is rotated away before that: the incomplete line can only ship as it is.
    q.finish(base, t(1000));
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"l1\npart-done\n", 12),
        entry("/l/b.log", 2, b"b\n", 11),
    ]);
    assert_eq!(q.get(base).expect("f").status, Status::Active);
    assert!(!q.is_live_base(base));
}

/// A scan entry as discovery builds it: first bytes only when the queue asks.
fn scanned(q: &FileQueue, path: &str, ino: u64, content: &[u8], mtime: u64) -> ScanEntry {
    let mut e = entry(path, ino, content, mtime);
    if !q.needs_prefix(e.id, e.disk_size, e.mtime) {
        e.prefix = None;
    }
    e
}

#[test]
fn copytruncate_then_regrowth_past_the_offset_is_seen_by_the_next_scan() {
    // Found by the soak: the file being read (fingerprint complete) is copied, truncated
    // and written past our offset before the next scan. A scan that skipped the first
    // bytes of a file that only grew resumed the new content mid-way and held the copy
    // back as a "copy of a live file" forever.
    let old: Vec<u8> = (0..40)
        .flat_map(|i| format!("g1 line {i:04}\n").into_bytes())
        .collect();
    let new: Vec<u8> = (0..60)
        .flat_map(|i| format!("g2 line {i:04}\n").into_bytes())
        .collect();
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, &old, 10)]);
    let cur = q.current().expect("current");
    let f = q.get_mut(cur).expect("f");
    (f.read, f.acked) = (200, 200);
    let scan = vec![
        scanned(&q, "/l/a.log", 1, &new, 12),
        scanned(&q, "/l/a.log.1", 2, &old, 11),
    ];
    q.reconcile(scan);
    let files = shipping_order(&q);
    assert_eq!(
        files,
        vec![("/l/a.log.1".into(), 200), ("/l/a.log".into(), 0)]
    );
}

#[test]
fn a_copy_finishes_beside_the_truncated_empty_base() {
    // Found by the model test: after a copytruncate the copy (ending in an incomplete
    // line) is the newest file with content; the truncated base is empty. The copy must
    // still finish once idle, or its last line never ships.
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![
        entry("/l/a.log.1", 2, b"l1\npart", 10),
        entry("/l/a.log", 1, b"", 11),
    ]);
    let cur = q.current().expect("current");
    assert_eq!(path_of(&q, cur), "/l/a.log.1");
    assert_eq!(q.can_finish(cur, t(100)), Finish::Now);
}

#[test]
fn rewind_rereads_unacked_bytes_of_finished_files() {
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"a\nb\n", 10),
        entry("/l/a.log", 2, b"c\n", 20),
    ]);
    let first = q.current().expect("cur");
    q.get_mut(first).expect("f").read = 4;
    q.get_mut(first).expect("f").acked = 2;
    q.finish(first, t(1000));
    assert_ne!(q.current(), Some(first));
    q.rewind();
    assert_eq!(q.current(), Some(first));
    assert_eq!(q.get(first).expect("f").read, 2);
}

#[test]
fn a_held_file_that_left_is_read_on_and_an_unheld_one_is_lost_only_after_several_scans() {
    let mut q = q();
    q.reconcile(vec![
        entry("/l/a.log.1", 1, b"aaaa\n", 10),
        entry("/l/a.log", 2, b"c\n", 20),
    ]);
    let cur = q.current().expect("cur");
    q.set_held(cur, true);
    // Deleted (or moved to an olddir) while queued: held, so still readable.
    for _ in 0..5 {
        let n = q.reconcile(vec![entry("/l/a.log", 2, b"c\n", 20)]);
        assert!(n.is_empty(), "{n:?}");
    }
    assert_eq!(q.current(), Some(cur), "read on through the descriptor");
    q.get_mut(cur).expect("f").read = 5;
    q.finish(cur, t(1000));
    // A file nobody holds (past max_open_files) appears and vanishes unread.
    let n = q.reconcile(vec![
        entry("/l/a.log.3", 9, b"zz\n", 5),
        entry("/l/a.log", 2, b"c\n", 20),
    ]);
    assert!(n.is_empty(), "{n:?}");
    for scan in 1..VANISH_SCANS {
        let n = q.reconcile(vec![entry("/l/a.log", 2, b"c\n", 20)]);
        assert!(n.is_empty(), "scan {scan}: not yet: it may be mid-rename");
    }
    let n = q.reconcile(vec![entry("/l/a.log", 2, b"c\n", 20)]);
    assert_eq!(
        n,
        vec![Notice::Lost {
            path: PathBuf::from("/l/a.log.3"),
            bytes: 3,
            reason: "deleted_before_read"
        }]
    );
}

#[test]
fn a_held_file_rewritten_after_it_left_the_directory_ships_its_new_content_from_the_start() {
    // copytruncate (the copy holds "aaaa"), new lines in the truncated file, then it is
    // renamed away and deleted while held, all before a scan looked: only its descriptor
    // shows the new content (the model test found it waiting for ever).
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 1, b"aaaa\n", 10)]);
    let cur = q.current().expect("cur");
    q.set_held(cur, true);
    q.get_mut(cur).expect("f").read = 5;
    q.set_acked(cur, 5);
    let copy = entry("/l/a.log.1", 2, b"aaaa\n", 11);
    let rewritten = entry("/l/a.log", 1, b"bbbbbbbb\n", 12);
    let n = q.reconcile_with_held(vec![copy.clone()], vec![rewritten.clone()]);
    assert_eq!(
        n,
        vec![
            Notice::Truncated {
                path: PathBuf::from("/l/a.log")
            },
            Notice::Adopted {
                from: PathBuf::from("/l/a.log"),
                to: PathBuf::from("/l/a.log.1"),
                offset: 5
            }
        ],
        "the old content continues in its copy, where it was read to; nothing is lost"
    );
    let new = q.by_id(DevIno { dev: 1, ino: 1 }).expect("tracked again");
    assert_ne!(new, cur, "a new file: its content is new");
    let f = q.get(new).expect("f");
    assert_eq!(
        (f.status, f.read, f.acked, f.size),
        (Status::Active, 0, 0, 9)
    );
    assert!(!f.present, "it is still not in the directory");
    q.set_held(new, true);
    assert_eq!(
        shipping_order(&q),
        vec![("/l/a.log.1".into(), 5), ("/l/a.log".into(), 0)],
        "the copy, read to where the original was, then the new content from its start"
    );
    // A file listed by the scan is reconciled from the scan, never from its descriptor.
    let n = q.reconcile_with_held(vec![copy, rewritten.clone()], vec![rewritten]);
    assert!(n.is_empty(), "{n:?}");
    assert_eq!(q.by_id(DevIno { dev: 1, ino: 1 }), Some(new));
    assert!(q.get(new).expect("f").present);
}

#[test]
fn a_copytruncate_copy_deleted_before_a_scan_saw_its_content_continues_the_truncated_file() {
    // Found by the model test under load (40 duplicates without a kill): the scan saw the
    // copy empty (`cp` had just created it), the next scan saw the base truncated, but by
    // then the copy had been deleted; held, unlisted and never read, it grew to the
    // original's content through its descriptor and was shipped again from 0.
    let body: Vec<u8> = (0..40)
        .flat_map(|i| format!("L{i:06} line\n").into_bytes())
        .collect();
    let mut q = FileQueue::new(StartAt::Beginning, Duration::from_secs(5))
        .with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, &body, 10)]);
    let base = q.current().expect("base");
    q.set_held(base, true);
    q.get_mut(base).expect("f").read = body.len() as u64;
    q.set_acked(base, body.len() as u64);
    q.reconcile(vec![
        entry("/l/a.log", 1, &body, 10),
        entry("/l/a.log.1", 2, b"", 11),
    ]);
    let copy = q.by_id(DevIno { dev: 1, ino: 2 }).expect("copy tracked");
    q.set_held(copy, true);
    // Truncated and rewritten; the copy, complete now, is gone from the directory.
    let n = q.reconcile_with_held(
        vec![entry("/l/a.log", 1, b"P000041", 12)],
        vec![entry("/l/a.log.1", 2, &body, 11)],
    );
    assert!(
        n.iter()
            .any(|n| matches!(n, Notice::Adopted { offset, .. } if *offset == body.len() as u64)),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let c = q.by_id(DevIno { dev: 1, ino: 2 }).expect("copy");
    let f = q.get(c).expect("f");
    assert_eq!(
        (f.read, f.acked, f.present),
        (body.len() as u64, body.len() as u64, false),
        "continued where the original was acknowledged, not shipped again"
    );
}

/// A compressed scan entry: `content` is what the file decompresses to (its first bytes are
/// the prefix a scan reads); `trailer` the length its trailer tells, if any.
fn gz_entry(path: &str, ino: u64, content: &[u8], trailer: Option<u64>, mtime: u64) -> ScanEntry {
    ScanEntry {
        path: PathBuf::from(path),
        id: DevIno { dev: 1, ino },
        size: trailer.unwrap_or(0),
        disk_size: 1 + content.len() as u64 / 3,
        mtime: t(mtime),
        prefix: Some(content[..content.len().min(256)].to_vec()),
        codec: Codec::Gzip,
    }
}

#[test]
fn a_rename_hidden_from_scans_keeps_the_file_and_its_offsets() {
    // RotatingFileHandler renames a.log → a.log.1 while a scan lists the directory: the file
    // is under neither name in that scan (and the next). Not held (past max_open_files), it
    // must not count as gone, nor come back as a new file read from 0 (duplicates).
    let body = b"line one\nline two\n";
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 1, body, 10)]);
    let k = q.current().expect("current");
    (
        q.get_mut(k).expect("f").read,
        q.get_mut(k).expect("f").acked,
    ) = (9, 9);
    for _ in 1..VANISH_SCANS {
        let n = q.reconcile(vec![entry("/l/a.log", 2, b"", 11)]);
        assert!(n.is_empty(), "{n:?}");
    }
    let n = q.reconcile(vec![
        entry("/l/a.log.1", 1, body, 10),
        entry("/l/a.log", 2, b"", 11),
    ]);
    assert!(n.is_empty(), "{n:?}");
    let f = q.get(k).expect("same file, same key");
    assert_eq!(
        (path_of(&q, k), f.read, f.acked),
        ("/l/a.log.1".into(), 9, 9)
    );
    assert_eq!(q.ordered().len(), 2);
}

#[test]
fn copytruncate_window_read_past_the_copy_is_shipped_once_and_lost_only_if_resent() {
    // logrotate copies a.log (C = 20 bytes) to a.log.1, the application writes one more
    // line, we read it from a.log (R = 30) and it is acknowledged; then logrotate truncates.
    // The copy continues a.log: nothing of it is read again, the acknowledged offset stops at
    // its end, and nothing is lost.
    let copy = b"line 0001\nline 0002\n";
    let orig = b"line 0001\nline 0002\nline 0003\n";
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, copy, 10)]);
    let k = q.current().expect("current");
    q.set_held(k, true);
    q.observe_stat(k, 30, t(11), true);
    q.get_mut(k).expect("f").read = 30;
    // The copy appears while the original still holds everything: held back.
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, orig, 11),
        entry("/l/a.log.1", 2, copy, 12),
    ]);
    assert!(matches!(n[..], [Notice::Shadowed { .. }]), "{n:?}");
    // Truncated (and written again) while the line past the copy is in flight.
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"next\n", 13),
        entry("/l/a.log.1", 2, copy, 12),
    ]);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Adopted { .. })),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let f = q.get(k).expect("the copy took the key of the original");
    assert_eq!(
        (path_of(&q, k), f.read, f.acked, f.beyond),
        ("/l/a.log.1".into(), 20, 0, 30)
    );
    // The in-flight line (ending at 30) is acknowledged: the offset stops at the copy's end.
    q.set_acked(k, 30);
    let f = q.get(k).expect("f");
    assert_eq!((f.acked, f.beyond), (20, 0), "never past the copy");
    assert!(q.rewind().is_empty(), "acknowledged: nothing to count");

    // The same, but the delivery of the line past the copy fails: it can be read from
    // nowhere now, so it is lost, exactly its 10 bytes, as "truncated".
    let mut q = FileQueue::new(StartAt::Beginning, Duration::from_secs(5))
        .with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, copy, 10)]);
    let k = q.current().expect("current");
    q.set_held(k, true);
    q.get_mut(k).expect("f").read = 30;
    q.observe_stat(k, 30, t(11), true);
    q.reconcile(vec![
        entry("/l/a.log", 1, orig, 11),
        entry("/l/a.log.1", 2, copy, 12),
    ]);
    q.reconcile(vec![
        entry("/l/a.log", 1, b"next\n", 13),
        entry("/l/a.log.1", 2, copy, 12),
    ]);
    q.set_acked(k, 10);
    assert_eq!(
        q.rewind(),
        vec![Notice::Lost {
            path: PathBuf::from("/l/a.log.1"),
            bytes: 10,
            reason: "truncated"
        }]
    );
    let f = q.get(k).expect("f");
    assert_eq!(
        (f.read, f.acked),
        (10, 10),
        "the rest is re-read from the copy"
    );
}

#[test]
fn a_truncated_tail_nobody_read_is_lost_exactly() {
    // Truncated in place without a copy: what was observed but not read is lost.
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, b"0123456789\n0123456789\n", 10)]);
    let k = q.current().expect("current");
    q.set_held(k, true);
    (
        q.get_mut(k).expect("f").read,
        q.get_mut(k).expect("f").acked,
    ) = (11, 11);
    let n = q.reconcile(vec![entry("/l/a.log", 1, b"new\n", 11)]);
    assert!(
        n.contains(&Notice::Lost {
            path: PathBuf::from("/l/a.log"),
            bytes: 11,
            reason: "truncated"
        }),
        "{n:?}"
    );
}

#[test]
fn a_compressed_copy_of_the_file_being_read_waits_and_is_then_already_shipped() {
    // logrotate `compress` without delaycompress: a.log.1 (held, being read) is gzipped to
    // a.log.1.gz and deleted.
    let body = b"line 1\nline 2\nline 3\n";
    let mut q = rotated_beside_base(body, b"new\n");
    let k = q.current().expect("current");
    q.set_held(k, true);
    q.get_mut(k).expect("f").read = 7;
    let n = q.reconcile(vec![
        gz_entry("/l/a.log.1.gz", 3, &body[..10], None, 12),
        entry("/l/a.log", 2, b"new\n", 11),
    ]);
    assert!(matches!(n[..], [Notice::Shadowed { .. }]), "{n:?}");
    assert_eq!(
        q.current(),
        Some(k),
        "the original is read on through its descriptor"
    );
    q.get_mut(k).expect("f").read = body.len() as u64;
    q.set_acked(k, body.len() as u64);
    let n = q.finish(k, t(20));
    assert!(matches!(n[..], [Notice::AlreadyShipped { .. }]), "{n:?}");
    let gz = q
        .files()
        .find(|f| f.codec == Codec::Gzip)
        .expect("the .gz is tracked");
    assert_eq!(
        (gz.status, gz.read, gz.acked),
        (Status::Finished, body.len() as u64, body.len() as u64)
    );
    assert_eq!(q.backlog(t(30)).bytes, 4, "only the new base file");
}

#[test]
fn delaycompress_recognises_a_shipped_and_gone_file_in_its_gz() {
    let body = b"rotated line\nanother\n";
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log.1", 1, body, 10)]);
    let k = q.current().expect("current");
    q.get_mut(k).expect("f").read = body.len() as u64;
    q.get_mut(k).expect("f").acked = body.len() as u64;
    q.finish(k, t(10));
    // a.log.1 is compressed one rotation later and deleted; its descriptor was released.
    for _ in 0..VANISH_SCANS {
        q.reconcile(vec![]);
    }
    assert_eq!(q.get(k).expect("remembered").status, Status::Gone);
    let saved = q.checkpoint_entries();
    assert!(saved
        .iter()
        .any(|c| c.gone && c.offset == body.len() as u64));
    // After a restart, from the checkpoint: the .gz (its trailer tells the same length) is
    // the same content, already shipped.
    let mut q2 = restored(&saved);
    let n = q2.reconcile(vec![gz_entry(
        "/l/a.log.2.gz",
        7,
        body,
        Some(body.len() as u64),
        30,
    )]);
    assert!(matches!(n[..], [Notice::AlreadyShipped { .. }]), "{n:?}");
    assert_eq!(q2.backlog(t(40)).bytes, 0);
    assert_eq!(q2.current(), None, "nothing to ship");
}

#[test]
fn a_gz_continues_a_file_deleted_while_the_agent_was_away_at_its_checkpoint() {
    // Checkpointed at 7 bytes into a.log.1; while the agent was down logrotate compressed
    // it to a.log.1.gz and deleted it. The .gz continues it, in decompressed offsets.
    let body = b"line 1\nline 2\nline 3\n";
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log.1", 1, body, 10)]);
    let k = q.current().expect("current");
    q.observe_head(k, body);
    (
        q.get_mut(k).expect("f").read,
        q.get_mut(k).expect("f").acked,
    ) = (7, 7);
    let saved = q.checkpoint_entries();
    let mut q2 = restored(&saved);
    let n = q2.reconcile(vec![gz_entry("/l/a.log.1.gz", 9, body, None, 20)]);
    assert!(
        n.iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 7, .. })),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    let cur = q2.current().expect("the .gz ships on");
    let f = q2.get(cur).expect("f");
    assert_eq!((f.codec, f.read, f.acked), (Codec::Gzip, 7, 7));
}

#[test]
fn a_gz_first_seen_before_its_magic_was_written_is_examined_again() {
    let mut q = q();
    q.reconcile(vec![entry("/l/a.log", 1, b"x\n", 10)]);
    // gzip has created the file, not yet written its header: it looks plain and empty.
    q.reconcile(vec![
        entry("/l/a.log", 1, b"x\n", 10),
        entry("/l/a.log.1.gz", 2, b"", 11),
    ]);
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"x\n", 10),
        gz_entry("/l/a.log.1.gz", 2, b"old content\n", None, 12),
    ]);
    assert!(
        n.iter()
            .all(|n| !matches!(n, Notice::Truncated { .. } | Notice::Lost { .. })),
        "not a replacement: {n:?}"
    );
    let gz = q.files().find(|f| f.id.ino == 2).expect("tracked");
    assert_eq!(gz.codec, Codec::Gzip);
}

#[test]
fn an_unsupported_compression_is_never_read() {
    let mut q = q();
    let mut e = entry("/l/a.log.1.xz", 1, b"\xfd7zXZ\x00...", 10);
    e.codec = Codec::Unsupported("xz");
    let n = q.reconcile(vec![e]);
    assert!(
        matches!(n[..], [Notice::Compressed { shipped: false, .. }]),
        "{n:?}"
    );
    assert_eq!(q.current(), None);
}

#[test]
fn copytruncate_window_seen_but_not_read_is_lost_exactly_once_the_copy_is_complete() {
    // The original a.log was seen at 40 bytes and read to 20 when logrotate copied it (20
    // bytes, a.log.1) and truncated it. Bytes 20..40 were written in the copy -> truncate
    // window and are in neither file: counted when the copy is finished, from its final size.
    let copy = b"line 0001\nline 0002\n";
    let mut q = q().with_base(Some(PathBuf::from("/l/a.log")));
    q.reconcile(vec![entry("/l/a.log", 1, copy, 10)]);
    let k = q.current().expect("current");
    q.set_held(k, true);
    q.observe_stat(k, 40, t(11), true);
    (
        q.get_mut(k).expect("f").read,
        q.get_mut(k).expect("f").acked,
    ) = (20, 20);
    let n = q.reconcile(vec![
        entry("/l/a.log", 1, b"next\n", 13),
        entry("/l/a.log.1", 2, copy, 12),
    ]);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Adopted { .. })),
        "{n:?}"
    );
    assert!(!n.iter().any(|n| matches!(n, Notice::Lost { .. })), "{n:?}");
    assert_eq!(q.get(k).map(|f| (f.read, f.acked)), Some((20, 20)));
    let lost: Vec<Notice> = q
        .finish(k, t(20))
        .into_iter()
        .filter(|n| matches!(n, Notice::Lost { .. }))
        .collect();
    assert_eq!(
        lost,
        vec![Notice::Lost {
            path: PathBuf::from("/l/a.log.1"),
            bytes: 20,
            reason: "truncated"
        }]
    );
    // Counted once.
    assert!(!q
        .finish(k, t(21))
        .iter()
        .any(|n| matches!(n, Notice::Lost { .. })));
}

#[test]
fn a_gz_of_a_file_read_to_its_end_but_not_acknowledged_is_not_shipped_when_the_file_finishes() {
    // Found by the model test (the same partial line as below, another order of events): the
    // .gz appeared while its original was still active, waited behind it; the original was
    // then read to its end and finished with the brokers down. The .gz was released as
    // "already shipped" and checkpointed at its end; after a restart the original was gone
    // and its 7 bytes were counted lost, though the .gz held them.
    let body = b"P000001\n";
    let mut q = rotated_beside_base(body, b"x\n");
    let k = q.current().expect("current");
    assert_eq!(path_of(&q, k), "/l/a.log.1");
    q.set_held(k, true);
    let gz = |q: &mut FileQueue| {
        q.reconcile(vec![
            gz_entry("/l/a.log.1.gz", 9, body, Some(8), 20),
            entry("/l/a.log", 2, b"x\n", 11),
        ])
    };
    let n = gz(&mut q);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Shadowed { .. })),
        "{n:?}"
    );
    q.get_mut(k).expect("f").read = 8;
    let n = q.finish(k, t(1000));
    assert!(
        n.is_empty(),
        "read, not acknowledged: nothing is shipped yet: {n:?}"
    );
    let g = q.by_id(DevIno { dev: 1, ino: 9 }).expect(".gz");
    assert_eq!(q.get(g).expect("gz").status, Status::Shadow(k));
    let saved = q.checkpoint_entries();
    assert!(
        saved.iter().all(|c| c.id.ino != 9),
        "a held-back copy is not checkpointed: {saved:?}"
    );
    // Restart before the acknowledgement: only the .gz is left.
    let mut q2 = restored(&saved);
    let mut notices = Vec::new();
    for _ in 0..=VANISH_SCANS {
        notices.extend(gz(&mut q2));
    }
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 0, .. })),
        "{notices:?}"
    );
    assert!(
        !notices.iter().any(|n| matches!(n, Notice::Lost { .. })),
        "{notices:?}"
    );
    // Without a restart: once acknowledged and gone from disk, the .gz stands for the
    // shipped file (continued at its end), nothing shipped again, nothing lost.
    q.set_acked(k, 8);
    q.set_held(k, false);
    let mut notices = Vec::new();
    for _ in 0..=VANISH_SCANS {
        notices.extend(gz(&mut q));
    }
    assert!(
        !notices.iter().any(|n| matches!(n, Notice::Lost { .. })),
        "{notices:?}"
    );
    let g = q.by_id(DevIno { dev: 1, ino: 9 }).expect(".gz");
    let f = q.get(g).expect("gz");
    assert_eq!((f.acked, f.read), (8, 8), "done at its end: {notices:?}");
}

#[test]
fn a_gz_of_a_finished_file_not_yet_acknowledged_waits_behind_it_and_continues_it_after_a_restart() {
    // Found by the model test: a rotated file holding only a partial line ("P000001") was
    // finished (a newer file exists) but not shipped (brokers down) when logrotate gzipped
    // it and deleted it. The .gz was taken as "already shipped" (the original was finished),
    // recorded at its end, and after a restart the original's 7 bytes were counted lost.
    let body = b"P000001";
    let mut q = rotated_beside_base(body, b"x\n");
    let k = q.by_id(DevIno { dev: 1, ino: 1 }).expect("k");
    q.observe_head(k, body);
    q.get_mut(k).expect("f").status = Status::Finished;
    q.set_held(k, true);
    let n = q.reconcile(vec![
        gz_entry("/l/a.log.1.gz", 9, body, Some(7), 20),
        entry("/l/a.log", 2, b"x\n", 11),
    ]);
    assert!(
        n.iter().any(|n| matches!(n, Notice::Shadowed { .. })),
        "held back behind the unshipped original: {n:?}"
    );
    assert!(
        !n.iter().any(|n| matches!(n, Notice::AlreadyShipped { .. })),
        "{n:?}"
    );
    // Stopped before the original shipped: the restart finds only the .gz.
    let saved = q.checkpoint_entries();
    let mut q2 = restored(&saved);
    let mut notices = Vec::new();
    for _ in 0..=VANISH_SCANS {
        notices.extend(q2.reconcile(vec![
            gz_entry("/l/a.log.1.gz", 9, body, Some(7), 20),
            entry("/l/a.log", 2, b"x\n", 11),
        ]));
    }
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::Adopted { offset: 0, .. })),
        "{notices:?}"
    );
    assert!(
        !notices.iter().any(|n| matches!(n, Notice::Lost { .. })),
        "{notices:?}"
    );
    let gz = q2
        .by_id(DevIno { dev: 1, ino: 9 })
        .expect("the .gz is tracked");
    let f = q2.get(gz).expect("f");
    assert_eq!(
        (f.codec, f.acked),
        (Codec::Gzip, 0),
        "shipped from its start"
    );
}
