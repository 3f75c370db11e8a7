//! Rotation behaviour against librdkafka's mock cluster (3 brokers, replication factor 3):
//! every line once, in file order.

use crate::util::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_rename_rotations_ship_every_line_once_in_order_and_never_swp() {
    init_logs();
    let mock = mock_cluster("rot");
    let d = dirs();
    let base = d.logs.join("access.log");
    std::fs::write(d.logs.join("access.log.swp"), "swap file, never shipped\n").expect("swp");
    std::fs::write(d.logs.join("other.log"), "not matched\n").expect("other");
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "rot", "")).await;
    let mut expected = Vec::new();
    for round in 0..4 {
        let ls = lines(&format!("r{round}"), 0..500);
        append(&base, &ls[..250]);
        // let the agent pick some of it up, then rotate while it's shipping
        tokio::task::yield_now().await;
        append(&base, &ls[250..]);
        expected.extend(ls);
        if round < 3 {
            std::fs::rename(
                &base,
                d.logs.join(format!("access.log.2015-09-0{}", round + 1)),
            )
            .expect("rename");
            std::fs::write(
                d.logs
                    .join(format!("access.log.2015-09-0{}.swp", round + 1)),
                "swap\n",
            )
            .expect("swp");
            // Rotations a few kernel ticks apart, so their mtimes (which order the queue) differ.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "rot",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_case_b_only_file_renamed_with_unsent_lines_ships_them_first() {
    init_logs();
    let mock = mock_cluster("caseb");
    let d = dirs();
    let base = d.logs.join("access.log");
    let first = lines("old", 0..100);
    append(&base, &first);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "caseb", "")).await;
    let got = read_topic(&mock.bootstrap_servers(), "caseb", 100, T);
    assert_eq!(as_strings(&got), first);
    agent.stop().await;
    // While the agent is down: more lines, then the only file is renamed away and a new
    // base file starts. The old file's unsent lines must ship before any new line.
    let unsent = lines("unsent", 0..300);
    append(&base, &unsent);
    std::fs::rename(&base, d.logs.join("access.log.2015-09-02")).expect("rename");
    let newer = lines("new", 0..200);
    append(&base, &newer);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "caseb", "")).await;
    // Live variant: brokers down, lines written and rotated, brokers back.
    let live_old = lines("live-old", 0..50);
    brokers(&mock, false);
    append(&base, &live_old);
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::rename(&base, d.logs.join("access.log.2015-09-03")).expect("rename");
    let live_new = lines("live-new", 0..50);
    append(&base, &live_new);
    brokers(&mock, true);
    let mut expected = first.clone();
    expected.extend(unsent);
    expected.extend(newer);
    expected.extend(live_old);
    expected.extend(live_new);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "caseb",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_resumes_in_copy_and_restarts_base_without_loss_or_repeat() {
    init_logs();
    let mock = mock_cluster("ct");
    let d = dirs();
    let base = d.logs.join("access.log");
    let a = lines("a", 0..200);
    append(&base, &a);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "ct", "")).await;
    assert_eq!(
        as_strings(&read_topic(&mock.bootstrap_servers(), "ct", 200, T)),
        a
    );
    // Unshipped lines at the moment of rotation: brokers down.
    brokers(&mock, false);
    let b_lines = lines("b", 0..300);
    append(&base, &b_lines);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // logrotate copytruncate: copy, then truncate in place, then the app keeps writing.
    std::fs::copy(&base, d.logs.join("access.log.1")).expect("copy");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&base)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    let c = lines("c", 0..100);
    append(&base, &c);
    brokers(&mock, true);
    let mut expected = a.clone();
    expected.extend(b_lines);
    expected.extend(c);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "ct",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_inode_new_content_starts_at_zero() {
    init_logs();
    let mock = mock_cluster("reuse");
    let d = dirs();
    let base = d.logs.join("access.log");
    let a = lines("first-file", 0..50);
    append(&base, &a);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "reuse", "")).await;
    assert_eq!(
        as_strings(&read_topic(&mock.bootstrap_servers(), "reuse", 50, T)),
        a
    );
    agent.stop().await;
    // A rotated file written while the agent was down (before the base file is rewritten, so
    // its mtime is not newer)...
    let rotated = d.logs.join("access.log.1");
    let c = lines("third", 0..30);
    append(&rotated, &c);
    // ...and the base file rewritten in place: same inode, different content, longer than the
    // checkpoint offset (what inode reuse looks like to the agent): dev+ino match but the
    // fingerprint does not.
    let b = lines("second-file-completely-different", 0..80);
    let mut body = String::new();
    for l in &b {
        body.push_str(l);
        body.push('\n');
    }
    std::fs::write(&base, body).expect("rewrite in place");
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "reuse", "")).await;
    let mut expected = a.clone();
    expected.extend(c);
    expected.extend(b);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "reuse",
        expected.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

/// Files that start with the same header longer than the fingerprint (a wide CSV header):
/// each new base file looks, by its first bytes, like a copy of the file just rotated away,
/// which is still being shipped. It must not be held back as one (it used to wait forever,
/// and so did the rotated file, which had no newer file to finish beside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_files_with_the_same_long_header_all_ship_in_order() {
    init_logs();
    let mock = mock_cluster("hdr");
    let d = dirs();
    let base = d.logs.join("access.log");
    let header = format!(
        "time,{}",
        (0..40)
            .map(|i| format!("column_{i:02}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(header.len() > 300);
    // Brokers down: every rotated file is still unshipped when the next base file appears.
    brokers(&mock, false);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "hdr", "")).await;
    let mut expected = Vec::new();
    for round in 0..3 {
        let mut ls = vec![header.clone()];
        ls.extend(lines(&format!("h{round}"), 0..50));
        append(&base, &ls);
        expected.extend(ls);
        tokio::time::sleep(Duration::from_millis(400)).await;
        if round < 2 {
            std::fs::rename(&base, d.logs.join(format!("access.log.{}", round + 1)))
                .expect("rename");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    brokers(&mock, true);
    // read_topic counts distinct lines; the header repeats once per file.
    let distinct = expected.iter().collect::<std::collections::HashSet<_>>();
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "hdr",
        distinct.len(),
        T,
    ));
    agent.stop().await;
    assert_lines(&got, &expected);
}

/// A regex that matches compressed rotations (the seed's `access.log.*`): a `.gz` that
/// continues no known file ships its decompressed lines, in mtime order with the others; an
/// xz file is never read (counted in logferry_files_skipped_total); no compressed byte is
/// ever shipped as a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_rotations_ship_their_lines_and_unreadable_formats_are_counted() {
    use std::io::Write;
    init_logs();
    let mock = mock_cluster("gz");
    let d = dirs();
    let old = lines("gz", 0..300);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in &old {
        writeln!(gz, "{l}").expect("gzip");
    }
    std::fs::write(d.logs.join("access.log.2.gz"), gz.finish().expect("gzip")).expect("write");
    // xz's magic, then bytes this build cannot decompress.
    std::fs::write(
        d.logs.join("access.log.3.xz"),
        b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46",
    )
    .expect("write");
    // Written after the .gz, so newer by mtime: ships after it.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let new = lines("plain", 0..200);
    append(&d.logs.join("access.log"), &new);
    let agent = start_agent(config(&d, &mock.bootstrap_servers(), "gz", "")).await;
    let mut expected = old;
    expected.extend(new);
    let got = as_strings(&read_topic(
        &mock.bootstrap_servers(),
        "gz",
        expected.len(),
        T,
    ));
    assert_lines(&got, &expected);
    let addr = agent.metrics_addr().expect("metrics endpoint");
    let scrape = http_get(addr, "/metrics").1;
    assert_eq!(
        sample(
            &scrape,
            r#"logferry_files_skipped_total{section="access",topic="gz",reason="unsupported_compression"}"#
        ),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            r#"logferry_bytes_lost_total{section="access",topic="gz",reason="deleted_before_read"}"#
        )
        .unwrap_or(0.0),
        0.0
    );
    agent.stop().await;
}
