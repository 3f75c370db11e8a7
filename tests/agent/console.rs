//! The web console (`/` and `/api/v1/status`) of a running agent and of `logferry broker`,
//! loaded in headless Chromium (Debian's `chromium`, installed by .ci/run): what a person sees
//! is asserted on the DOM after the page's script ran, and screenshots are kept under
//! `<target>/console/`. The JSON is checked against its published schema and against
//! /metrics at the same moment; no response names an external URL.

use crate::util::*;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);
const SCHEMA: &str = include_str!("../../src/ops/console/status-v1.schema.json");

/// Where screenshots go: `<target>/console/`, kept as CI artifacts.
fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("console");
    std::fs::create_dir_all(&dir).expect("mkdir target/console");
    dir
}

fn chromium(profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    let size: &[&str] = if args.iter().any(|a| a.starts_with("--window-size=")) {
        &[]
    } else {
        &["--window-size=1280,1400"]
    };
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .args(size)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium (Debian package chromium) must be installed; .ci/run installs it");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The DOM after the page's script has polled the JSON once (virtual time runs its timer).
fn browser_dom(profile: &Path, url: &str) -> String {
    let out = chromium(profile, &["--virtual-time-budget=8000", "--dump-dom"], url);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn browser_screenshot(profile: &Path, url: &str, name: &str) -> PathBuf {
    browser_screenshot_sized(profile, url, name, 1400)
}

/// A screenshot `height` pixels tall (1280 wide), for pages with many panels.
fn browser_screenshot_sized(profile: &Path, url: &str, name: &str, height: u32) -> PathBuf {
    let path = shots_dir().join(name);
    let _ = std::fs::remove_file(&path);
    chromium(
        profile,
        &[
            &format!("--window-size=1280,{height}"),
            &format!("--screenshot={}", path.display()),
        ],
        url,
    );
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 10_000,
        "screenshot {} has {len} bytes",
        path.display()
    );
    path
}

/// The element `<tag ... attr="value" ...>…</tag>` of `dom` (first match), as text.
fn element<'a>(dom: &'a str, tag: &str, attr: &str) -> &'a str {
    let start = dom
        .find(attr)
        .and_then(|i| dom[..i].rfind(&format!("<{tag}")))
        .unwrap_or_else(|| panic!("no <{tag} {attr}> in the page:\n{dom}"));
    let end = dom[start..]
        .find(&format!("</{tag}>"))
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

/// The text of a bound element (`data-k="key"`).
fn bound(dom: &str, key: &str) -> String {
    let attr = format!("data-k=\"{key}\"");
    let i = dom
        .find(&attr)
        .unwrap_or_else(|| panic!("no {attr} in the page"));
    let open = i + dom[i..].find('>').expect("tag end") + 1;
    let close = open + dom[open..].find('<').expect("text end");
    dom[open..close].to_string()
}

/// The points of the first polyline in `html`.
fn polyline_points(html: &str) -> Vec<(f64, f64)> {
    let i = html.find("<polyline points=\"").expect("polyline") + "<polyline points=\"".len();
    let end = i + html[i..].find('"').expect("end");
    html[i..end]
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').expect("x,y");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect()
}

/// No address outside the host itself: no scheme://, no protocol-relative //host.
fn assert_no_external_url(what: &str, body: &str) {
    for pat in [
        "http://",
        "https://",
        "ftp://",
        "ws://",
        "wss://",
        "src=\"//",
        "href=\"//",
        "url(//",
        "url(http",
    ] {
        assert!(!body.contains(pat), "{what} contains {pat:?}");
    }
    for attr in ["src=\"", "href=\"", "action=\""] {
        for (i, _) in body.match_indices(attr) {
            let v = &body[i + attr.len()..];
            assert!(
                v.starts_with('?') || v.starts_with('/') && !v.starts_with("//"),
                "{what}: {attr}{} is not on this host",
                &v[..v.len().min(40)]
            );
        }
    }
}

fn get_json(addr: std::net::SocketAddr, path: &str) -> Value {
    let (code, body) = http_get(addr, path);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

/// Validates `v` against the subset of JSON Schema the published schema uses (type,
/// required, properties, items, enum, additionalProperties, $ref), and also refuses
/// properties the schema does not document, so the schema stays complete.
fn validate(root: &Value, schema: &Value, v: &Value, at: &str) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return validate(root, &root["$defs"][name], v, at);
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type in schema at {at}"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        assert!(ok, "{at}: {v} is not {types:?}");
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        assert!(e.contains(v), "{at}: {v} not in {e:?}");
    }
    if let Some(obj) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let k = r.as_str().expect("key");
            assert!(obj.contains_key(k), "{at}: missing {k}");
        }
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties");
        for (k, child) in obj {
            let path = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), extra) {
                (Some(s), _) => validate(root, s, child, &path),
                (None, Some(s)) if s.is_object() => validate(root, s, child, &path),
                _ => panic!("{path} is not documented in the schema"),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(root, items, x, &format!("{at}[{i}]"));
        }
    }
}

fn check_schema(v: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    validate(&schema, &schema, v, "$");
}

/// Commits `offset` on partition 0 of `topic` for `group`, as a consumer would.
fn commit(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("tpl");
    c.commit(&tpl, CommitMode::Sync).expect("commit");
}

fn bundled_config(d: &Dirs, topic: &str) -> logferry::config::Config {
    let text = config_text(d, "bundled", topic, "")
        + &format!(
            "\n[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            d.tmp.path().join("broker").display()
        );
    logferry::config::Config::parse(&text, d.tmp.path()).expect("valid config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_of_an_agent_with_its_bundled_broker_in_chromium() {
    init_logs();
    let d = dirs();
    let agent = start_agent(bundled_config(&d, "console")).await;
    let addr = agent.metrics_addr().expect("endpoint");
    let bootstrap = agent.bootstrap_servers().to_string();
    let base = d.logs.join("access.log");
    let shipped = "logferry_lines_shipped_total{section=\"access\",topic=\"console\"}";
    // Two rounds, a chart sample after each: the throughput chart has points.
    agent.sample_console();
    for (round, n) in [(0, 300usize), (1, 500)] {
        append(
            &base,
            &lines(&format!("console-{round}"), 0..n - 300 * round),
        );
        wait_for("lines shipped", T, || {
            sample(&http_get(addr, "/metrics").1, shipped) == Some(n as f64)
        })
        .await;
        agent.sample_console();
    }
    commit(&bootstrap, "console-readers", "console", 300);
    let lag =
        "logferry_broker_consumer_lag{group=\"console-readers\",topic=\"console\",partition=\"0\"}";

    // The JSON: schema, and the same values as /metrics at the same moment (a scrape
    // before and after it agree, so nothing moved in between).
    let deadline = std::time::Instant::now() + T;
    let (before, status, after) = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no quiet moment with the current file published"
        );
        let before = http_get(addr, "/metrics").1;
        let status = get_json(addr, "/api/v1/status");
        let after = http_get(addr, "/metrics").1;
        // The current file is published by the section's once-a-second observation, which
        // may not have run since the file appeared (its lines can ship faster than that).
        let current = &status["agent"]["sections"][0]["current_file"];
        if before == after && sample(&after, lag).is_some() && current.is_string() {
            break (before, status, after);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(before, after);
    check_schema(&status);
    let s = &status["agent"]["sections"][0];
    let m = |name: &str| -> f64 {
        sample(
            &after,
            &format!("{name}{{section=\"access\",topic=\"console\"}}"),
        )
        .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    assert_eq!(s["name"], "access");
    assert_eq!(
        s["lines_shipped"].as_f64(),
        Some(m("logferry_lines_shipped_total"))
    );
    assert_eq!(
        s["bytes_shipped"].as_f64(),
        Some(m("logferry_bytes_shipped_total"))
    );
    assert_eq!(
        s["backlog_bytes"].as_f64(),
        Some(m("logferry_backlog_bytes"))
    );
    assert_eq!(
        s["backlog_files"].as_f64(),
        Some(m("logferry_backlog_files"))
    );
    assert_eq!(
        s["backlog_oldest_seconds"].as_f64(),
        Some(m("logferry_backlog_oldest_seconds"))
    );
    assert_eq!(s["broker_up"], m("logferry_broker_up") == 1.0);
    assert_eq!(s["alert"], m("logferry_backlog_alert") == 1.0);
    assert_eq!(s["lines_shipped"], 500);
    assert_eq!(s["current_file"], base.display().to_string());
    let part = status["broker"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .find(|p| p["topic"] == "console")
        .expect("console/0")
        .clone();
    assert_eq!(part["log_end_offset"], 500);
    assert_eq!(
        part["log_end_offset"].as_f64(),
        sample(
            &after,
            "logferry_broker_log_end_offset{topic=\"console\",partition=\"0\"}"
        )
    );
    let group = status["broker"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["group_id"] == "console-readers")
        .expect("group")
        .clone();
    assert_eq!(group["offsets"][0]["committed"], 300);
    assert_eq!(group["offsets"][0]["lag"], 200);
    assert_eq!(group["offsets"][0]["lag"].as_f64(), sample(&after, lag));
    let rates: Vec<f64> = s["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["lines_per_s"].as_f64())
        .collect();
    assert!(rates.iter().any(|r| *r > 0.0), "{rates:?}");

    // The page as served and in a browser.
    let (code, page) = http_get(addr, "/");
    assert_eq!(code, 200);
    assert_no_external_url("GET /", &page);
    assert_no_external_url("GET /api/v1/status", &http_get(addr, "/api/v1/status").1);
    let url = format!("http://{addr}/");
    let profile = d.tmp.path().join("chromium");
    let dom = browser_dom(&profile, &url);
    assert!(dom.contains("data-live=\""), "the script updated the page");
    let row = element(&dom, "tr", "data-section=\"access\"");
    assert!(row.contains(">console<"), "{row}");
    assert!(row.contains(&base.display().to_string()), "{row}");
    assert!(
        row.contains(">shipping<") || row.contains(">idle<"),
        "{row}"
    );
    let charts = element(&dom, "div", "data-chart-section=\"access\"");
    let rate_chart = &charts[charts.find("class=\"rate\"").expect("rate chart")..];
    let points = polyline_points(rate_chart);
    assert!(points.len() >= 2, "{rate_chart}");
    assert!(
        points.iter().any(|(_, y)| *y < 100.0),
        "a non-zero rate: {points:?}"
    );
    let prow = element(&dom, "tr", "data-partition=\"console/0\"");
    assert_eq!(bound(prow, "broker.partitions.1.log_end_offset"), "500");
    let lrow = element(&dom, "tr", "data-lag=\"console-readers/console/0\"");
    assert!(lrow.contains(">300<") && lrow.contains(">200<"), "{lrow}");
    let shot = browser_screenshot(&profile, &url, "agent-bundled.png");
    eprintln!("screenshot: {}", shot.display());
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_a_broker_outage_its_alert_and_the_backlog_rising() {
    init_logs();
    let d = dirs();
    let mock = mock_cluster("outage-console");
    brokers(&mock, false);
    let cfg = config(
        &d,
        &mock.bootstrap_servers(),
        "outage-console",
        "backlog_alert_bytes = 5000",
    );
    let agent = start_agent(cfg).await;
    let addr = agent.metrics_addr().expect("endpoint");
    let base = d.logs.join("access.log");
    let gauge = "logferry_backlog_bytes{section=\"access\",topic=\"outage-console\"}";
    let mut sizes = Vec::new();
    for round in 0..3 {
        append(&base, &lines(&format!("down-{round}"), 0..100));
        let size = std::fs::metadata(&base).expect("meta").len();
        wait_for("backlog = file size", T, || {
            sample(&http_get(addr, "/metrics").1, gauge) == Some(size as f64)
        })
        .await;
        agent.sample_console();
        sizes.push(size);
    }
    wait_for("broker down and alert in the JSON", T, || {
        let s = get_json(addr, "/api/v1/status");
        s["agent"]["sections"][0]["status"] == "broker_down"
            && s["agent"]["sections"][0]["alert"] == true
    })
    .await;
    let status = get_json(addr, "/api/v1/status");
    check_schema(&status);
    assert!(
        status.get("broker").is_none(),
        "external brokers: no broker panel"
    );
    let s = &status["agent"]["sections"][0];
    let backlog: Vec<u64> = s["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["backlog_bytes"].as_u64())
        .collect();
    for size in &sizes {
        assert!(backlog.contains(size), "{backlog:?} has {size}");
    }
    assert!(backlog.windows(2).all(|w| w[0] <= w[1]), "{backlog:?}");
    let kinds: Vec<&str> = s["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"broker_down") && kinds.contains(&"alert_firing"),
        "{kinds:?}"
    );

    let url = format!("http://{addr}/");
    let profile = d.tmp.path().join("chromium");
    let dom = browser_dom(&profile, &url);
    assert!(dom.contains("data-live=\""), "the script updated the page");
    let row = element(&dom, "tr", "data-section=\"access\"");
    assert!(row.contains(">broker down<"), "{row}");
    assert!(row.contains(">alert firing<"), "{row}");
    let timeline = element(&dom, "section", "id=\"timeline\"");
    assert!(
        timeline.contains(">broker down<") && timeline.contains(">alert firing<"),
        "{timeline}"
    );
    let charts = element(&dom, "div", "data-chart-section=\"access\"");
    let backlog_chart = &charts[charts.find("class=\"backlog\"").expect("backlog chart")..];
    let points = polyline_points(backlog_chart);
    // Rising: each point higher on the chart (smaller y) or level, the last at the top.
    assert!(points.len() >= 3, "{points:?}");
    assert!(points.windows(2).all(|w| w[1].1 <= w[0].1), "{points:?}");
    assert!(
        points.last().is_some_and(|p| p.1 < points[0].1),
        "{points:?}"
    );
    let shot = browser_screenshot(&profile, &url, "agent-broker-down.png");
    eprintln!("screenshot: {}", shot.display());
    agent.stop().await;
    brokers(&mock, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logferry_broker_serves_its_console_on_http_listen() {
    init_logs();
    let d = dirs();
    let broker = ChildBroker::spawn(
        &d.tmp.path().join("broker"),
        &["--http-listen", "127.0.0.1:0"],
    );
    let http: std::net::SocketAddr = wait_until(T, "the HTTP address in the log", || {
        broker
            .lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains("HTTP endpoint listening"))
            .find_map(|l| {
                l.split("local=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
    });
    let ls = lines("standalone", 0..40);
    // The agent-free way to write: a producer through rdkafka.
    {
        use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .create()
            .expect("producer");
        for l in &ls {
            p.send(BaseRecord::<(), _>::to("standalone").payload(l.as_str()))
                .expect("send");
        }
        p.flush(T).expect("flush");
    }
    commit(&broker.addr, "standalone-readers", "standalone", 10);
    let status = get_json(http, "/api/v1/status");
    check_schema(&status);
    assert!(
        status.get("agent").is_none(),
        "no agent panel on logferry broker"
    );
    let part = status["broker"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .find(|p| p["topic"] == "standalone")
        .expect("standalone/0")
        .clone();
    assert_eq!(part["log_end_offset"], 40);
    let (code, page) = http_get(http, "/");
    assert_eq!(code, 200);
    assert_no_external_url("logferry broker GET /", &page);
    assert!(!page.contains("id=\"agent\""));
    let lrow = element(&page, "tr", "data-lag=\"standalone-readers/standalone/0\"");
    assert!(lrow.contains(">10<") && lrow.contains(">30<"), "{lrow}");
    let (code, metrics) = http_get(http, "/metrics");
    assert_eq!(code, 200);
    assert_eq!(
        sample(
            &metrics,
            "logferry_broker_log_end_offset{topic=\"standalone\",partition=\"0\"}"
        ),
        Some(40.0)
    );
    let profile = d.tmp.path().join("chromium");
    let url = format!("http://{http}/");
    let dom = browser_dom(&profile, &url);
    assert!(dom.contains("data-partition=\"standalone/0\""));
    browser_screenshot(&profile, &url, "broker.png");
    broker.terminate();
}

/// Rules that let anyone do anything (the agent and its monitor connect as ANONYMOUS), and
/// one that is not about them.
const OPEN_ACLS: &str = r#"# the console test's ACLs
[[acl]]
permission = "allow"
operations = ["all"]
topic = "*"

[[acl]]
permission = "allow"
operations = ["all"]
group = "*"

[[acl]]
permission = "allow"
operations = ["all"]
cluster = true

[[acl]]
permission = "deny"
operations = ["write"]
topic_prefix = "secret."
host = "192.0.2.0/24"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_the_canary_and_the_bundled_brokers_acls_read_only() {
    init_logs();
    let d = dirs();
    let acl = d.tmp.path().join("acl.toml");
    std::fs::write(&acl, OPEN_ACLS).expect("acl");
    let text = config_text(&d, "bundled", "canary-console", "")
        + &format!(
            "\n[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nacl_enabled = true\nacl_file = \"{}\"\n\n[monitor]\nenabled = true\ninterval_ms = 200\nwindow_ms = 5000\nloss_timeout_ms = 3000\nproduce_timeout_ms = 2000\nmetrics_listen = \"\"\n",
            d.tmp.path().join("broker").display(),
            acl.display()
        );
    let cfg = logferry::config::Config::parse(&text, d.tmp.path()).expect("valid config");
    let agent = start_agent(cfg).await;
    let addr = agent.metrics_addr().expect("endpoint");

    // The canary's figures: every partition has consumed canaries.
    let mut status = Value::Null;
    // Both partitions: early on the board may list fewer partitions than the topic has, so
    // "every listed partition consumed" alone passed with one (the suite run with 4 test
    // threads on 2 cores failed the count of 2 below that way).
    wait_for("canaries consumed on both partitions", T, || {
        status = get_json(addr, "/api/v1/status");
        status["canary"]["partitions_page"]["total"].as_u64() == Some(2)
            && status["canary"]["partitions"]
                .as_array()
                .is_some_and(|parts| {
                    parts
                        .iter()
                        .all(|p| p["consumed"].as_u64().is_some_and(|c| c > 0))
                })
    })
    .await;
    check_schema(&status);
    let c = &status["canary"];
    assert_eq!(c["topic"], "logferry-monitor");
    assert!(c["evaluated_at_ms"].as_u64().is_some());
    assert_eq!(c["partitions_page"]["total"].as_u64(), Some(2), "{c}");
    for p in c["partitions"].as_array().expect("partitions") {
        assert_eq!(p["lost"], 0, "{p}");
        assert_eq!(p["duplicated"], 0, "{p}");
        assert!(p["latency_p99_s"].as_f64().is_some(), "{p}");
    }
    // The ACLs in force, read-only: no admin token.
    let a = &status["acls"];
    assert_eq!(a["generation"], 1, "{a}");
    assert_eq!(a["rules_total"], 4, "{a}");
    assert_eq!(a["admin"], false);
    assert_eq!(a["editable"], true);
    assert_eq!(a["source"], acl.display().to_string());
    let deny = &a["rules"][3];
    assert_eq!(
        (
            deny["permission"].as_str(),
            deny["operation"].as_str(),
            deny["pattern_type"].as_str(),
            deny["resource_name"].as_str(),
            deny["principal"].as_str(),
            deny["host"].as_str(),
            deny["entry"].as_u64()
        ),
        (
            Some("deny"),
            Some("write"),
            Some("prefixed"),
            Some("secret."),
            Some("User:*"),
            Some("192.0.2.0/24"),
            Some(4)
        )
    );
    let rule = serde_json::to_string(deny).expect("json");
    let (code, body) = http_send(
        addr,
        "POST",
        "/api/v1/acls",
        Some("Bearer whatever-it-is-0123"),
        &rule,
    );
    assert_eq!(
        code, 404,
        "no admin token configured: no editing endpoint ({body})"
    );
    assert_eq!(
        http_send(addr, "DELETE", "/api/v1/acls", None, &rule).0,
        404
    );

    let url = format!("http://{addr}/");
    let (_, page) = http_get(addr, "/");
    assert_no_external_url("GET / with the canary and ACLs", &page);
    let profile = d.tmp.path().join("chromium");
    let dom = browser_dom(&profile, &url);
    assert!(dom.contains("data-live=\""), "the script updated the page");
    for p in 0..2 {
        let row = element(&dom, "tr", &format!("data-canary=\"{p}\""));
        let consumed: u64 = bound(row, &format!("canary.partitions.{p}.consumed"))
            .parse()
            .expect("a count");
        assert!(consumed > 0, "{row}");
    }
    let acls = element(&dom, "section", "id=\"acls\"");
    assert_eq!(bound(acls, "acls.generation"), "1");
    assert!(
        acls.contains("data-acl=\"deny:write:topic:secret.:User:*\""),
        "{acls}"
    );
    assert!(
        !acls.contains("<form") && !acls.contains("data-acl-remove"),
        "{acls}"
    );
    let shot = browser_screenshot_sized(&profile, &url, "agent-canary.png", 2000);
    eprintln!("screenshot: {}", shot.display());
    agent.stop().await;
}

/// Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// requests on its fd 3, answers on its fd 4, NUL-separated JSON), to use a page as a person
/// would: fill a form, click a button.
struct Devtools {
    child: std::process::Child,
    tx: std::fs::File,
    rx: std::io::BufReader<std::fs::File>,
    next: u64,
    session: String,
}

/// (read end, write end), both close-on-exec.
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, which this function then owns.
    unsafe {
        assert_eq!(
            libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC),
            0,
            "pipe2: {}",
            std::io::Error::last_os_error()
        );
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

impl Devtools {
    fn open(profile: &Path, url: &str) -> Devtools {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let (to_chrome, tx) = pipe();
        let (rx, from_chrome) = pipe();
        let (r, w) = (to_chrome.as_raw_fd(), from_chrome.as_raw_fd());
        let mut cmd = std::process::Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // Copies above 10 first (no close-on-exec), so 3 and 4 cannot clobber them.
                let r2 = libc::fcntl(r, libc::F_DUPFD, 10);
                let w2 = libc::fcntl(w, libc::F_DUPFD, 10);
                if r2 < 0 || w2 < 0 || libc::dup2(r2, 3) < 0 || libc::dup2(w2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .expect("chromium (Debian package chromium) must be installed; .ci/run installs it");
        drop((to_chrome, from_chrome));
        let mut d = Devtools {
            child,
            tx,
            rx: std::io::BufReader::new(rx),
            next: 0,
            session: String::new(),
        };
        let target = d.call("Target.createTarget", serde_json::json!({ "url": url }));
        let target = target["targetId"].as_str().expect("targetId").to_string();
        let attached = d.call(
            "Target.attachToTarget",
            serde_json::json!({ "targetId": target, "flatten": true }),
        );
        d.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        d
    }

    /// One command; its result (events in between are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// One command; its result or its error.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        use std::io::{BufRead, Write};
        self.next += 1;
        let mut msg = serde_json::json!({ "id": self.next, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&msg).expect("json");
        bytes.push(0);
        self.tx.write_all(&bytes).expect("to chromium");
        loop {
            let mut buf = Vec::new();
            let n = self.rx.read_until(0, &mut buf).expect("from chromium");
            assert!(n > 0, "chromium closed its DevTools pipe");
            buf.pop();
            let v: Value = serde_json::from_slice(&buf).expect("DevTools JSON");
            if v["id"].as_u64() == Some(self.next) {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    /// Evaluates `js` in the page; its value, or why not (e.g. the page is reloading).
    fn try_eval(&mut self, js: &str) -> Result<Value, Value> {
        let r = self.try_call(
            "Runtime.evaluate",
            serde_json::json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
        )?;
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    fn eval(&mut self, js: &str) -> Value {
        self.try_eval(js).unwrap_or_else(|e| panic!("{js}: {e}"))
    }

    /// Waits until `js` is true in the page (it may be reloading meanwhile).
    fn wait(&mut self, what: &str, js: &str) {
        let deadline = std::time::Instant::now() + T;
        while self.try_eval(&format!("!!({js})")).ok() != Some(Value::Bool(true)) {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Devtools {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kafka-python's ACL admin client (tests/interop/kafka_python_acls.py): its output lines.
fn kafka_python_acls(bootstrap: &str, args: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/kafka_python_acls.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(bootstrap)
        .args(args)
        .output()
        .expect("python3 (pip install kafka-python)");
    assert!(
        out.status.success(),
        "kafka_python_acls.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// kcat producing `lines` to `topic`: Ok, or kcat's error output.
fn kcat_produce(bootstrap: &str, topic: &str, lines: &[String]) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new("kcat")
        .args(["-b", bootstrap, "-P", "-t", topic, "-X", "acks=all"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kcat (apt-get install kcat)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all((lines.join("\n") + "\n").as_bytes())
        .expect("lines to kcat");
    let out = child.wait_with_output().expect("kcat");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && !err.contains("authorization failed") {
        Ok(())
    } else {
        Err(err)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_edits_in_the_console_are_kafkas_and_kafkas_are_the_consoles() {
    init_logs();
    let d = dirs();
    let token = "console-admin-token-0123456789abcdef";
    std::fs::write(d.tmp.path().join("admin-token"), format!("{token}\n")).expect("token");
    // ANONYMOUS may administer (kafka-python's admin client) and write to `open.*` only.
    std::fs::write(
        d.tmp.path().join("acl.toml"),
        r#"# edited by the console test
[[acl]]
permission = "allow"
operations = ["all"]
cluster = true
principal = "User:ANONYMOUS"

[[acl]]
permission = "allow"
operations = ["write"]
topic_prefix = "open."
"#,
    )
    .expect("acl");
    let config = d.tmp.path().join("broker.toml");
    std::fs::write(
        &config,
        "[broker]\nhttp_listen = \"127.0.0.1:0\"\nadmin_token_file = \"admin-token\"\nacl_enabled = true\nacl_file = \"acl.toml\"\nacl_refresh_ms = 3600000\n",
    )
    .expect("config");
    let broker = ChildBroker::spawn(
        &d.tmp.path().join("broker"),
        &["--config", config.to_str().expect("utf8")],
    );
    let http: std::net::SocketAddr = wait_until(T, "the HTTP address in the log", || {
        broker
            .lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|l| l.contains("HTTP endpoint listening"))
            .find_map(|l| {
                l.split("local=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
    });
    let bearer = format!("Bearer {token}");
    let generation = || get_json(http, "/api/v1/status")["acls"]["generation"].as_u64();
    assert_eq!(generation(), Some(1));

    // The topic is denied to kcat until the console allows it.
    let sent = lines("guarded", 0..20);
    let err = kcat_produce(&broker.addr, "guarded", &sent).expect_err("denied at first");
    assert!(err.contains("Topic authorization failed"), "{err}");
    let allow_guarded = r#"{"permission":"allow","operation":"write","resource_type":"topic","pattern_type":"literal","resource_name":"guarded","principal":"User:*"}"#;
    // No token, a wrong one, a malformed rule: refused, nothing changes.
    assert_eq!(
        http_send(http, "POST", "/api/v1/acls", None, allow_guarded).0,
        401
    );
    assert_eq!(
        http_send(
            http,
            "POST",
            "/api/v1/acls",
            Some("Bearer console-admin-token-0123456789abcdeX"),
            allow_guarded
        )
        .0,
        403
    );
    let (code, body) = http_send(
        http,
        "POST",
        "/api/v1/acls",
        Some(&bearer),
        &allow_guarded.replace("User:*", "everyone"),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("principal"), "{body}");
    assert_eq!(generation(), Some(1));
    assert!(broker.log_contains("console ACL edit refused: wrong admin token"));

    let (code, body) = http_send(http, "POST", "/api/v1/acls", Some(&bearer), allow_guarded);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        serde_json::json!({"generation": 2})
    );
    // Kafka's admin API describes it, and kcat may now write.
    assert_eq!(
        kafka_python_acls(&broker.addr, &["describe", "guarded"]),
        vec!["User:* * WRITE ALLOW"]
    );
    kcat_produce(&broker.addr, "guarded", &sent).expect("allowed after the console's edit");
    let status = get_json(http, "/api/v1/status");
    let part = status["broker"]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .find(|p| p["topic"] == "guarded")
        .expect("guarded/0")
        .clone();
    assert_eq!(part["log_end_offset"], 20);
    let text = std::fs::read_to_string(d.tmp.path().join("acl.toml")).expect("acl file");
    assert!(
        text.starts_with("# edited by the console test") && text.contains("topic = \"guarded\""),
        "{text}"
    );

    // The other way round: a rule made by kafka-python shows in the console, which removes it.
    assert_eq!(
        kafka_python_acls(
            &broker.addr,
            &["create", "from-kafka", "User:carol", "READ"]
        ),
        vec!["created"]
    );
    let status = get_json(http, "/api/v1/status");
    check_schema(&status);
    let a = &status["acls"];
    assert_eq!(
        (a["generation"].as_u64(), a["admin"].as_bool()),
        (Some(3), Some(true))
    );
    let carol = a["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .find(|r| r["resource_name"] == "from-kafka")
        .expect("kafka-python's rule in the console")
        .clone();
    assert_eq!(
        (carol["principal"].as_str(), carol["operation"].as_str()),
        (Some("User:carol"), Some("read"))
    );

    let url = format!("http://{http}/");
    let (_, page) = http_get(http, "/");
    assert!(!page.contains(token), "the token is never in the page");
    assert_no_external_url("logferry broker GET / with ACL edits", &page);
    let profile = d.tmp.path().join("chromium");
    let dom = browser_dom(&profile, &url);
    assert!(dom.contains("data-live=\""), "the script updated the page");
    let acls = element(&dom, "section", "id=\"acls\"");
    assert_eq!(bound(acls, "acls.generation"), "3");
    let row = element(
        acls,
        "tr",
        "data-acl=\"allow:read:topic:from-kafka:User:carol\"",
    );
    assert!(row.contains("data-acl-remove="), "{row}");
    assert!(
        acls.contains("data-acl=\"allow:write:topic:guarded:User:*\""),
        "{acls}"
    );
    assert!(acls.contains("<form id=\"acl-add\""), "{acls}");
    let shot = browser_screenshot(&profile, &url, "broker-acls.png");
    eprintln!("screenshot: {}", shot.display());

    // Through the page as a person would: a wrong token is refused, the right one adds the
    // rule (Kafka's admin client sees it), and its remove button takes it away again.
    let mut page = Devtools::open(&d.tmp.path().join("devtools"), &url);
    let form = "document.getElementById('acl-add')";
    page.wait(
        "the page with its form",
        &format!("document.readyState === 'complete' && {form}"),
    );
    let submit = |page: &mut Devtools, token: &str| {
        page.eval(&format!(
            "(function () {{ var f = {form}; f.operation.value = 'write'; f.resource_name.value = 'via-page'; f.principal.value = 'User:dave'; f.token.value = '{token}'; f.requestSubmit(); return true; }})()"
        ));
    };
    submit(&mut page, "not-the-admin-token-at-all");
    page.wait(
        "the refusal on the page",
        "document.getElementById('acl-msg').textContent.indexOf('403') === 0",
    );
    assert_eq!(generation(), Some(3));
    submit(&mut page, token);
    wait_for("the page's rule in force", T, || generation() == Some(4)).await;
    assert_eq!(
        kafka_python_acls(&broker.addr, &["describe", "via-page"]),
        vec!["User:dave * WRITE ALLOW"]
    );
    let button =
        "document.querySelector('tr[data-acl=\"allow:write:topic:via-page:User:dave\"] button')";
    page.wait("the reloaded page with the new rule", button);
    page.eval(&format!("{button}.click(), true"));
    wait_for("the rule removed from the page", T, || {
        generation() == Some(5)
    })
    .await;
    assert!(kafka_python_acls(&broker.addr, &["describe", "via-page"]).is_empty());
    drop(page);

    let carol = serde_json::to_string(&carol).expect("json");
    let (code, body) = http_send(http, "DELETE", "/api/v1/acls", Some(&bearer), &carol);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON"),
        serde_json::json!({"removed": 1, "generation": 6})
    );
    assert!(kafka_python_acls(&broker.addr, &["describe", "from-kafka"]).is_empty());
    assert_eq!(
        http_send(http, "DELETE", "/api/v1/acls", Some(&bearer), &carol).0,
        404,
        "nothing left to remove"
    );
    broker.terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_console_edits_its_bundled_brokers_acls_with_the_admin_token() {
    init_logs();
    let d = dirs();
    std::fs::write(d.tmp.path().join("acl.toml"), OPEN_ACLS).expect("acl");
    let token_file = d.tmp.path().join("admin-token");
    let cfg = || {
        let text = config_text(&d, "bundled", "edited", "")
            + &format!(
                "\n[broker]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nacl_enabled = true\nacl_file = \"acl.toml\"\nadmin_token_file = \"admin-token\"\n",
                d.tmp.path().join("broker").display()
            );
        logferry::config::Config::parse(&text, d.tmp.path()).expect("valid config")
    };
    // A token too short to be one: the agent does not start.
    std::fs::write(&token_file, "guessable\n").expect("token");
    let e = match logferry::agent::Agent::start(cfg()).await {
        Ok(_) => panic!("started with a 9-character admin token"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("admin_token_file") && e.contains("at least 16"),
        "{e}"
    );
    let token = "agent-admin-token-fedcba9876543210";
    std::fs::write(&token_file, token).expect("token");
    let agent = start_agent(cfg()).await;
    let addr = agent.metrics_addr().expect("endpoint");
    let rule = r#"{"permission":"deny","operation":"read","resource_type":"group","pattern_type":"prefixed","resource_name":"batch-","principal":"ClientId:etl","host":"10.0.0.0/8"}"#;
    let (code, body) = http_send(
        addr,
        "POST",
        "/api/v1/acls",
        Some(&format!("Bearer {token}")),
        rule,
    );
    assert_eq!(code, 200, "{body}");
    let status = get_json(addr, "/api/v1/status");
    check_schema(&status);
    let a = &status["acls"];
    assert_eq!(
        (a["admin"].as_bool(), a["generation"].as_u64()),
        (Some(true), Some(2))
    );
    let added = &a["rules"][4];
    assert_eq!(
        (
            added["resource_type"].as_str(),
            added["resource_name"].as_str(),
            added["principal"].as_str(),
            added["host"].as_str(),
            added["entry"].as_u64()
        ),
        (
            Some("group"),
            Some("batch-"),
            Some("ClientId:etl"),
            Some("10.0.0.0/8"),
            Some(5)
        )
    );
    let text = std::fs::read_to_string(d.tmp.path().join("acl.toml")).expect("acl file");
    assert!(
        text.starts_with("# the console test's ACLs") && text.contains("group_prefix = \"batch-\""),
        "{text}"
    );
    agent.stop().await;
}
