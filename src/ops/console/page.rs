//! `GET /`: the console page, rendered from the same [`Status`] as the JSON. Everything is in
//! the one response (inline CSS and script, SVG charts drawn here), so it is readable without
//! JavaScript and nothing is fetched from elsewhere. The script re-reads `/api/v1/status`
//! every few seconds and updates the elements that carry a `data-k` (a path into the JSON),
//! the charts (`data-series`), or reloads the page when the rows changed (`data-sig`).

use super::status::{PageInfo, Query, Status};
use std::fmt::Write;

const STYLE: &str = include_str!("assets/console.css");
pub const SCRIPT: &str = include_str!("assets/console.js");

/// Chart drawing area (SVG user units; the SVG scales to its box).
const W: f64 = 600.0;
const H: f64 = 100.0;

/// HTML-escapes text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// 1536 → "1.5 KiB". Same rules as `fmt.bytes` in console.js.
pub fn fmt_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut unit = "B";
    for u in ["KiB", "MiB", "GiB", "TiB"] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Same rules as `fmt.rate` in console.js.
pub fn fmt_rate(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.1}")
    } else {
        format!("{}", x.round() as u64)
    }
}

/// Seconds as "42s", "3m 5s", "2h 7m". Same rules as `fmt.age` in console.js.
pub fn fmt_age(s: u64) -> String {
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        format!("{}h {}m", s / 3600, s % 3600 / 60)
    }
}

/// Unix ms as "HH:MM:SS" UTC. Same as `fmt.time` in console.js.
pub fn fmt_time(ms: u64) -> String {
    let s = ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// What identifies the rows on the page; the script reloads when the JSON's differs.
/// Same as `sig()` in console.js.
pub fn signature(st: &Status) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(a) = &st.agent {
        for s in &a.sections {
            let last = s.events.last().map_or(0, |e| e.t_ms);
            let lost: Vec<&str> = s.lost.keys().map(String::as_str).collect();
            parts.push(format!(
                "s:{}:{}:{}:{}",
                s.name,
                u8::from(s.alert),
                last,
                lost.join(",")
            ));
        }
        let lost: Vec<&str> = a.totals.lost.keys().map(String::as_str).collect();
        parts.push(format!("l:{}", lost.join(",")));
    }
    if let Some(a) = &st.acls {
        let reload = match &a.acls.last_reload {
            None => "none",
            Some(r) if r.ok => "ok",
            Some(_) => "failed",
        };
        parts.push(format!(
            "a:{}:{}:{}:{reload}",
            a.acls.generation,
            a.acls.rules.len(),
            u8::from(a.admin)
        ));
    }
    if let Some(c) = &st.canary {
        let parts_here: Vec<String> = c
            .report
            .partitions
            .iter()
            .map(|p| p.partition.to_string())
            .collect();
        parts.push(format!(
            "c:{}:{}",
            u8::from(c.report.evaluated_at_ms.is_some()),
            parts_here.join(",")
        ));
    }
    if let Some(b) = &st.broker {
        for t in &b.topics {
            parts.push(format!("t:{}", t.topic.name));
        }
        for p in &b.partitions {
            parts.push(format!("p:{}/{}", p.topic, p.partition));
        }
        for g in &b.groups {
            parts.push(format!(
                "g:{}:{}:{}",
                g.group_id,
                g.members.len(),
                g.offsets.len()
            ));
        }
    }
    parts.join(";")
}

/// A bound cell: its text now, and where the script finds its next value.
fn cell(out: &mut String, class: &str, key: &str, fmt: &str, text: &str) {
    let _ = write!(
        out,
        "<td class=\"{class}\" data-k=\"{}\" data-fmt=\"{fmt}\">{}</td>",
        esc(key),
        esc(text)
    );
}

/// A line chart of `points` (t_ms, value) over the last hour up to `end_ms`, with the area
/// under it; the script redraws it with the same geometry (`draw()` in console.js).
/// What a chart draws: its CSS class, caption, the JSON array it is redrawn from (`series`),
/// the field of each sample plotted (`field`), and how its maximum is written (`fmt`).
struct Chart<'a> {
    class: &'a str,
    title: &'a str,
    series: &'a str,
    field: &'a str,
    fmt: &'a str,
}

fn chart(out: &mut String, c: &Chart<'_>, points: &[(u64, f64)], end_ms: u64, span_ms: u64) {
    let Chart {
        class,
        title,
        series,
        field,
        fmt,
    } = *c;
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let max_text = if fmt == "bytes" {
        fmt_bytes(max as u64)
    } else {
        fmt_rate(max)
    };
    let _ = write!(
        out,
        "<figure><figcaption>{} · up to the last hour · max <span class=\"max\">{}</span></figcaption>",
        esc(title),
        esc(&max_text)
    );
    let _ = write!(
        out,
        "<svg class=\"{class}\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\" data-series=\"{}\" data-y=\"{field}\" data-fmt=\"{fmt}\">",
        esc(title),
        esc(series)
    );
    let (line, area) = chart_paths(points, end_ms, span_ms);
    let _ = write!(
        out,
        "<polygon class=\"area\" points=\"{area}\"/><polyline points=\"{line}\"/></svg></figure>"
    );
}

/// The shortest time axis: a young history is drawn over its own span, not squeezed into
/// the right edge of an hour.
pub const MIN_SPAN_MS: u64 = 60_000;

/// The polyline and the area polygon's points: the x axis runs from the first sample (or
/// `span_ms` before `end_ms`, if later; at least [`MIN_SPAN_MS`]) to `end_ms`. Same as
/// `paths()` in console.js.
pub fn chart_paths(points: &[(u64, f64)], end_ms: u64, span_ms: u64) -> (String, String) {
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let first = points.first().map_or(end_ms, |p| p.0);
    let span_ms = end_ms
        .saturating_sub(first)
        .clamp(MIN_SPAN_MS, span_ms.max(MIN_SPAN_MS));
    let start = end_ms.saturating_sub(span_ms) as f64;
    let span = span_ms as f64;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|(t, v)| {
            let x = ((*t as f64 - start) / span * W).clamp(0.0, W);
            let y = H - v / scale * (H - 4.0);
            (x, y)
        })
        .collect();
    let line: Vec<String> = xy.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let line = line.join(" ");
    let area = match (xy.first(), xy.last()) {
        (Some(f), Some(l)) => format!("{:.1},{H} {line} {:.1},{H}", f.0, l.0),
        _ => String::new(),
    };
    (line, area)
}

fn pager(out: &mut String, q: &Query, key: &str, p: &PageInfo, what: &str) {
    if p.pages <= 1 {
        return;
    }
    let _ = write!(
        out,
        "<p class=\"pager\"><span>{what} {}–{} of {}</span>",
        (p.page * p.per_page + 1).min(p.total),
        ((p.page + 1) * p.per_page).min(p.total),
        p.total
    );
    if p.page > 0 {
        let _ = write!(
            out,
            "<a href=\"?{}\">previous</a>",
            esc(&q.with_page(key, p.page - 1))
        );
    }
    if p.page + 1 < p.pages {
        let _ = write!(
            out,
            "<a href=\"?{}\">next</a>",
            esc(&q.with_page(key, p.page + 1))
        );
    }
    out.push_str("</p>");
}

fn loss_text(lost: &std::collections::BTreeMap<String, u64>) -> String {
    let total: u64 = lost.values().sum();
    if total == 0 {
        return "0 B".to_string();
    }
    let reasons: Vec<String> = lost
        .iter()
        .map(|(r, n)| format!("{r}: {}", fmt_bytes(*n)))
        .collect();
    format!("{} ({})", fmt_bytes(total), reasons.join(", "))
}

fn agent_panels(out: &mut String, st: &Status, q: &Query) {
    let Some(a) = &st.agent else { return };
    let span = st.sample_interval_ms * st.history_capacity as u64;
    let t = &a.totals;
    out.push_str("<section id=\"agent\"><h2>Sections</h2>");
    let _ = write!(
        out,
        "<p>{} sections · <span data-k=\"agent.totals.lines_shipped\" data-fmt=\"int\">{}</span> lines shipped · backlog <span data-k=\"agent.totals.backlog_bytes\" data-fmt=\"bytes\">{}</span> · lost <span id=\"lost\" class=\"{}\">{}</span></p>",
        t.sections,
        t.lines_shipped,
        fmt_bytes(t.backlog_bytes),
        if t.bytes_lost > 0 { "bad" } else { "" },
        esc(&loss_text(&t.lost))
    );
    out.push_str("<table id=\"sections\"><thead><tr><th>section</th><th>topic</th><th>status</th><th>current file</th><th class=\"num\">backlog</th><th class=\"num\">files</th><th class=\"num\">oldest unshipped</th><th class=\"num\">lines/s</th><th class=\"num\">lost</th></tr></thead><tbody>");
    for (i, s) in a.sections.iter().enumerate() {
        let k = format!("agent.sections.{i}");
        let _ = write!(
            out,
            "<tr data-section=\"{}\"><td>{}</td><td>{}</td>",
            esc(&s.name),
            esc(&s.name),
            esc(&s.topic)
        );
        let _ = write!(
            out,
            "<td class=\"status\"><span class=\"badge st-{}\" data-k=\"{k}.status\" data-fmt=\"state\">{}</span>",
            serde_plain(&s.status),
            s.status.label()
        );
        if s.alert {
            out.push_str(" <span class=\"badge alert\">alert firing</span>");
        }
        if let Some(h) = &s.health {
            let _ = write!(
                out,
                "<div class=\"muted small\" data-k=\"{k}.health\" data-fmt=\"text\">{}</div>",
                esc(h)
            );
        }
        out.push_str("</td>");
        cell(
            out,
            "path",
            &format!("{k}.current_file"),
            "text",
            s.current_file.as_deref().unwrap_or("—"),
        );
        cell(
            out,
            "num",
            &format!("{k}.backlog_bytes"),
            "bytes",
            &fmt_bytes(s.backlog_bytes),
        );
        cell(
            out,
            "num",
            &format!("{k}.backlog_files"),
            "int",
            &s.backlog_files.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.backlog_oldest_seconds"),
            "age",
            &fmt_age(s.backlog_oldest_seconds),
        );
        cell(
            out,
            "num",
            &format!("{k}.lines_per_s"),
            "rate",
            &fmt_rate(s.lines_per_s),
        );
        let _ = write!(
            out,
            "<td class=\"num{}\">{}</td></tr>",
            if s.bytes_lost > 0 { " bad" } else { "" },
            esc(&loss_text(&s.lost))
        );
    }
    out.push_str("</tbody></table>");
    pager(out, q, "section_page", &a.sections_page, "sections");
    out.push_str("</section><section id=\"charts\"><h2>Backlog and throughput</h2>");
    for (i, s) in a.sections.iter().enumerate() {
        let series = format!("agent.sections.{i}.history");
        let _ = write!(
            out,
            "<h3>{}</h3><div class=\"charts\" data-chart-section=\"{}\">",
            esc(&s.name),
            esc(&s.name)
        );
        let backlog: Vec<(u64, f64)> = s
            .history
            .iter()
            .map(|p| (p.t_ms, p.backlog_bytes as f64))
            .collect();
        let rate: Vec<(u64, f64)> = s
            .history
            .iter()
            .map(|p| (p.t_ms, f64::from(p.lines_per_s)))
            .collect();
        chart(
            out,
            &Chart {
                class: "backlog",
                title: "backlog bytes",
                series: &series,
                field: "backlog_bytes",
                fmt: "bytes",
            },
            &backlog,
            st.generated_at_ms,
            span,
        );
        chart(
            out,
            &Chart {
                class: "rate",
                title: "lines/s shipped",
                series: &series,
                field: "lines_per_s",
                fmt: "rate",
            },
            &rate,
            st.generated_at_ms,
            span,
        );
        out.push_str("</div>");
    }
    out.push_str("</section><section id=\"timeline\"><h2>Timeline</h2>");
    let mut events: Vec<(&str, &crate::ops::metrics::Event)> = a
        .sections
        .iter()
        .flat_map(|s| s.events.iter().map(move |e| (s.name.as_str(), e)))
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.1.t_ms));
    if events.is_empty() {
        out.push_str("<p class=\"muted\">No alert transitions, outages or rotations yet.</p>");
    } else {
        out.push_str("<ol class=\"timeline\">");
        for (name, e) in events.iter().take(100) {
            let kind = serde_plain(&e.kind);
            let _ = write!(
                out,
                "<li>{} <b>{}</b> <span class=\"badge ev-{kind}\">{}</span> {}</li>",
                fmt_time(e.t_ms),
                esc(name),
                kind.replace('_', " "),
                esc(&e.detail)
            );
        }
        out.push_str("</ol>");
    }
    out.push_str("</section>");
}

/// A unit enum's serde name ("broker_down").
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn broker_panels(out: &mut String, st: &Status, q: &Query) {
    let Some(b) = &st.broker else { return };
    let span = st.sample_interval_ms * st.history_capacity as u64;
    out.push_str("<section id=\"broker\"><h2>Broker: topics</h2><div class=\"charts\">");
    let rate: Vec<(u64, f64)> = b
        .history
        .iter()
        .map(|p| (p.t_ms, p.messages_per_s))
        .collect();
    chart(
        out,
        &Chart {
            class: "rate",
            title: "messages/s written, all topics",
            series: "broker.history",
            field: "messages_per_s",
            fmt: "rate",
        },
        &rate,
        st.generated_at_ms,
        span,
    );
    out.push_str("</div><table id=\"topics\"><thead><tr><th>topic</th><th class=\"num\">partitions</th><th class=\"num\">end offsets (sum)</th><th class=\"num\">bytes</th><th class=\"num\">messages/s</th></tr></thead><tbody>");
    for (i, t) in b.topics.iter().enumerate() {
        let k = format!("broker.topics.{i}");
        let _ = write!(
            out,
            "<tr data-topic=\"{}\"><td>{}{}</td><td class=\"num\">{}</td>",
            esc(&t.topic.name),
            esc(&t.topic.name),
            if t.topic.internal {
                " <span class=\"muted\">internal</span>"
            } else {
                ""
            },
            t.topic.partitions
        );
        cell(
            out,
            "num",
            &format!("{k}.log_end_offset_sum"),
            "int",
            &t.topic.log_end_offset_sum.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.bytes"),
            "bytes",
            &fmt_bytes(t.topic.bytes),
        );
        cell(
            out,
            "num",
            &format!("{k}.messages_per_s"),
            "rate",
            &fmt_rate(t.messages_per_s),
        );
        out.push_str("</tr>");
    }
    let _ = write!(
        out,
        "</tbody></table><h3>Partitions</h3><table id=\"partitions\"><thead><tr><th>topic</th><th class=\"num\">partition</th><th class=\"num\">log start offset</th><th class=\"num\">log end offset</th><th class=\"num\">bytes</th></tr></thead><tbody>"
    );
    for (i, p) in b.partitions.iter().enumerate() {
        let k = format!("broker.partitions.{i}");
        let _ = write!(
            out,
            "<tr data-partition=\"{}/{}\"><td>{}</td><td class=\"num\">{}</td>",
            esc(&p.topic),
            p.partition,
            esc(&p.topic),
            p.partition
        );
        cell(
            out,
            "num",
            &format!("{k}.log_start_offset"),
            "int",
            &p.log_start_offset.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.log_end_offset"),
            "int",
            &p.log_end_offset.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.bytes"),
            "bytes",
            &fmt_bytes(p.bytes),
        );
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    pager(out, q, "partition_page", &b.partitions_page, "partitions");
    out.push_str("</section><section id=\"groups\"><h2>Broker: consumer groups</h2>");
    if b.groups.is_empty() {
        out.push_str("<p class=\"muted\">No consumer groups.</p>");
    }
    for (i, g) in b.groups.iter().enumerate() {
        let k = format!("broker.groups.{i}");
        let members: Vec<String> = g
            .members
            .iter()
            .map(|m| format!("{}@{}", m.client_id, m.client_host))
            .collect();
        let _ = write!(
            out,
            "<div data-group=\"{}\"><h3>{} <span class=\"muted\" data-k=\"{k}.state\" data-fmt=\"text\">{}</span> · {} member(s){} · lag <span data-k=\"{k}.total_lag\" data-fmt=\"int\">{}</span></h3>",
            esc(&g.group_id),
            esc(&g.group_id),
            esc(&g.state),
            g.members.len(),
            if members.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&members.join(", ")))
            },
            g.total_lag
        );
        out.push_str("<table><thead><tr><th>topic</th><th class=\"num\">partition</th><th class=\"num\">committed</th><th class=\"num\">log end offset</th><th class=\"num\">lag</th></tr></thead><tbody>");
        for (j, o) in g.offsets.iter().enumerate() {
            let ko = format!("{k}.offsets.{j}");
            let _ = write!(
                out,
                "<tr data-lag=\"{}/{}/{}\"><td>{}</td><td class=\"num\">{}</td>",
                esc(&g.group_id),
                esc(&o.topic),
                o.partition,
                esc(&o.topic),
                o.partition
            );
            cell(
                out,
                "num",
                &format!("{ko}.committed"),
                "int",
                &o.committed.to_string(),
            );
            cell(
                out,
                "num",
                &format!("{ko}.log_end_offset"),
                "int",
                &o.log_end_offset.map_or("—".into(), |e| e.to_string()),
            );
            cell(
                out,
                "num",
                &format!("{ko}.lag"),
                "int",
                &o.lag.map_or("—".into(), |e| e.to_string()),
            );
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    pager(out, q, "group_page", &b.groups_page, "groups");
    out.push_str("</section>");
}

/// "99.5%" (availability, loss rate).
pub fn fmt_pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Seconds as "12 ms" / "1.50 s"; "—" for none. Same as `fmt.secs` in console.js.
pub fn fmt_secs(x: Option<f64>) -> String {
    match x {
        None => "\u{2014}".to_string(),
        Some(s) if s < 1.0 => format!("{} ms", (s * 1000.0).round() as u64),
        Some(s) => format!("{s:.2} s"),
    }
}

/// "SLA met", or each failed check as "check: detail", joined by "; ". Same as `sla()` in
/// console.js.
pub fn sla_text(v: &[super::canary::CanaryViolation]) -> String {
    if v.is_empty() {
        return "SLA met".to_string();
    }
    let parts: Vec<String> = v
        .iter()
        .map(|v| format!("{}: {}", v.check, v.detail))
        .collect();
    parts.join("; ")
}

fn canary_panel(out: &mut String, st: &Status, q: &Query) {
    let Some(c) = &st.canary else { return };
    let r = &c.report;
    let _ = write!(
        out,
        "<section id=\"canary\"><h2>Canary: {}</h2>",
        esc(&r.topic)
    );
    let Some(at) = r.evaluated_at_ms else {
        out.push_str(
            "<p class=\"muted\">Waiting for the monitor's first evaluation.</p></section>",
        );
        return;
    };
    let _ = write!(
        out,
        "<p>evaluated <span data-k=\"canary.evaluated_at_ms\" data-fmt=\"time\">{}</span> UTC over {} · loss rate <span data-k=\"canary.loss_rate\" data-fmt=\"pct\">{}</span> · latency p50 <span data-k=\"canary.latency_p50_s\" data-fmt=\"secs\">{}</span> p99 <span data-k=\"canary.latency_p99_s\" data-fmt=\"secs\">{}</span></p>",
        fmt_time(at),
        fmt_age(r.window_ms / 1000),
        fmt_pct(r.loss_rate),
        fmt_secs(r.latency_p50_s),
        fmt_secs(r.latency_p99_s)
    );
    // Redrawn by the script at each poll (`sla()` in console.js): same text.
    let _ = write!(
        out,
        "<p id=\"sla\" class=\"{}\">{}</p>",
        if r.violations.is_empty() { "ok" } else { "bad" },
        esc(&sla_text(&r.violations))
    );
    out.push_str("<table id=\"canary-partitions\"><thead><tr><th class=\"num\">partition</th><th class=\"num\">leader</th><th class=\"num\">produce availability</th><th class=\"num\">consume availability</th><th class=\"num\">consumed</th><th class=\"num\">lost</th><th class=\"num\">duplicated</th><th class=\"num\">missing</th><th class=\"num\">p50</th><th class=\"num\">p99</th></tr></thead><tbody>");
    for (i, p) in r.partitions.iter().enumerate() {
        let k = format!("canary.partitions.{i}");
        let _ = write!(
            out,
            "<tr data-canary=\"{}\"><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            p.partition,
            p.partition,
            p.leader.map_or("none".to_string(), |l| l.to_string())
        );
        cell(
            out,
            "num",
            &format!("{k}.produce_availability"),
            "pct",
            &fmt_pct(p.produce_availability),
        );
        cell(
            out,
            "num",
            &format!("{k}.consume_availability"),
            "pct",
            &fmt_pct(p.consume_availability),
        );
        cell(
            out,
            "num",
            &format!("{k}.consumed"),
            "int",
            &p.consumed.to_string(),
        );
        let bad = |n: u64| if n > 0 { "num bad" } else { "num" };
        cell(
            out,
            bad(p.lost),
            &format!("{k}.lost"),
            "int",
            &p.lost.to_string(),
        );
        cell(
            out,
            bad(p.duplicated),
            &format!("{k}.duplicated"),
            "int",
            &p.duplicated.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.missing"),
            "int",
            &p.missing.to_string(),
        );
        cell(
            out,
            "num",
            &format!("{k}.latency_p50_s"),
            "secs",
            &fmt_secs(p.latency_p50_s),
        );
        cell(
            out,
            "num",
            &format!("{k}.latency_p99_s"),
            "secs",
            &fmt_secs(p.latency_p99_s),
        );
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    pager(out, q, "canary_page", &c.partitions_page, "partitions");
    out.push_str("</section>");
}

/// A labelled `<select name=...>` of `options`.
fn select(out: &mut String, label: &str, name: &str, options: &[&str]) {
    let _ = write!(out, "<label>{label} <select name=\"{name}\">");
    for o in options {
        let _ = write!(out, "<option>{o}</option>");
    }
    out.push_str("</select></label> ");
}

fn acl_panel(out: &mut String, st: &Status, q: &Query) {
    let Some(a) = &st.acls else { return };
    let acls = &a.acls;
    let _ = write!(
        out,
        "<section id=\"acls\"><h2>Broker: ACLs</h2><p>generation <b data-k=\"acls.generation\" data-fmt=\"int\">{}</b> · {} rules · source <span class=\"path\">{}</span>{}",
        acls.generation,
        acls.rules_total,
        esc(&acls.source),
        if acls.editable { "" } else { " (read-only)" }
    );
    if !acls.super_users.is_empty() {
        let _ = write!(out, " · super users {}", esc(&acls.super_users.join(", ")));
    }
    out.push_str("</p>");
    match &acls.last_reload {
        None => {
            out.push_str("<p class=\"muted\" id=\"acl-reload\">Not reloaded since the start.</p>")
        }
        Some(r) => {
            let _ = write!(
                out,
                "<p id=\"acl-reload\">last reload <span data-k=\"acls.last_reload.at_ms\" data-fmt=\"time\">{}</span> UTC: ",
                fmt_time(r.at_ms)
            );
            match &r.error {
                None => out.push_str("<span class=\"ok\">ok</span>"),
                Some(e) => {
                    let _ = write!(
                        out,
                        "<span class=\"bad\">failed: {}</span> (the rules below stay in force)",
                        esc(e)
                    );
                }
            }
            out.push_str("</p>");
        }
    }
    let _ = write!(
        out,
        "<table id=\"acl-rules\"><thead><tr><th class=\"num\">entry</th><th>permission</th><th>operation</th><th>resource</th><th>pattern</th><th>name</th><th>principal</th><th>host</th>{}</tr></thead><tbody>",
        if a.admin { "<th></th>" } else { "" }
    );
    for r in &acls.rules {
        let _ = write!(
            out,
            "<tr data-acl=\"{}:{}:{}:{}:{}\"><td class=\"num\">{}</td><td><span class=\"badge perm-{}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            esc(&r.permission),
            esc(&r.operation),
            esc(&r.resource_type),
            esc(&r.resource_name),
            esc(&r.principal),
            r.entry,
            esc(&r.permission),
            esc(&r.permission),
            esc(&r.operation),
            esc(&r.resource_type),
            esc(&r.pattern_type),
            esc(&r.resource_name),
            esc(&r.principal),
            esc(&r.host)
        );
        if a.admin {
            let json = serde_json::to_string(r).unwrap_or_default();
            let _ = write!(
                out,
                "<td><button type=\"button\" data-acl-remove=\"{}\">remove</button></td>",
                esc(&json)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    pager(out, q, "acl_page", &a.rules_page, "rules");
    if a.admin {
        out.push_str("<form id=\"acl-add\" autocomplete=\"off\"><h3>Add a rule</h3><p>");
        select(out, "permission", "permission", &["allow", "deny"]);
        select(
            out,
            "operation",
            "operation",
            &["read", "write", "describe", "admin", "all"],
        );
        select(
            out,
            "resource",
            "resource_type",
            &["topic", "group", "cluster"],
        );
        select(out, "pattern", "pattern_type", &["literal", "prefixed"]);
        out.push_str("<label>name <input name=\"resource_name\" size=\"16\" placeholder=\"logs.app\"></label> <label>principal <input name=\"principal\" size=\"16\" value=\"User:*\"></label> <label>host <input name=\"host\" size=\"12\" value=\"*\"></label></p><p><label>admin token <input type=\"password\" name=\"token\" size=\"24\"></label> <button type=\"submit\">add</button> <span id=\"acl-msg\" class=\"muted\">Edits go to the ACL file, as Kafka's CreateAcls and DeleteAcls.</span></p></form>");
    }
    out.push_str("</section>");
}

/// The whole page for `st` (made for query `q`).
pub fn render(st: &Status, q: &Query) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>logferry · {}</title><style>{STYLE}</style><noscript><meta http-equiv=\"refresh\" content=\"10\"></noscript></head>",
        esc(&st.host)
    );
    let _ = write!(
        out,
        "<body data-query=\"{}\" data-sig=\"{}\"><header><h1>logferry</h1><span>{}</span><span>updated <span data-k=\"generated_at_ms\" data-fmt=\"time\">{}</span> UTC</span></header><main>",
        esc(&q.with_page("", 0)),
        esc(&signature(st)),
        esc(&st.host),
        fmt_time(st.generated_at_ms)
    );
    agent_panels(&mut out, st, q);
    canary_panel(&mut out, st, q);
    broker_panels(&mut out, st, q);
    acl_panel(&mut out, st, q);
    let _ = write!(out, "</main><script>{SCRIPT}</script></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_script() {
        assert_eq!(fmt_bytes(1023), "1023 B");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(fmt_rate(2.34), "2.3");
        assert_eq!(fmt_rate(123.4), "123");
        assert_eq!(fmt_age(59), "59s");
        assert_eq!(fmt_age(185), "3m 5s");
        assert_eq!(fmt_age(7620), "2h 7m");
        assert_eq!(fmt_time(86_400_000 + 3_723_000), "01:02:03");
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    fn status_with_acls_and_canary(admin: bool) -> Status {
        use super::super::canary::{CanaryPartition, CanaryReport, CanaryViolation};
        use super::super::status::{AclStatus, CanaryStatus};
        use logferry_broker::acl::view::{AclRule, AclSnapshot};
        use logferry_broker::acl::LastReload;
        let rule = AclRule {
            entry: 1,
            permission: "deny".into(),
            operation: "write".into(),
            resource_type: "topic".into(),
            pattern_type: "prefixed".into(),
            resource_name: "secret.".into(),
            principal: "User:<mallory>".into(),
            host: "10.0.0.0/8".into(),
        };
        let part = |partition, lost| CanaryPartition {
            partition,
            leader: Some(0),
            produce_availability: 1.0,
            consume_availability: 0.995,
            acked: 120,
            consumed: 120,
            lost,
            duplicated: 0,
            missing: 0,
            latency_p50_s: Some(0.004),
            latency_p99_s: Some(1.5),
        };
        Status {
            version: 1,
            host: "h".into(),
            generated_at_ms: 3_600_000,
            sample_interval_ms: 5_000,
            history_capacity: 720,
            agent: None,
            broker: None,
            acls: Some(AclStatus {
                rules_page: PageInfo {
                    page: 0,
                    per_page: 100,
                    pages: 1,
                    total: 1,
                },
                admin,
                acls: AclSnapshot {
                    source: "/etc/logferry/acl.toml".into(),
                    editable: true,
                    generation: 7,
                    super_users: vec!["User:admin".into()],
                    rules_total: 1,
                    rules: vec![rule],
                    last_reload: Some(LastReload {
                        at_ms: 3_599_000,
                        ok: false,
                        changed: false,
                        error: Some("[[acl]] entry 2: <bad>".into()),
                    }),
                },
            }),
            canary: Some(CanaryStatus {
                partitions_page: PageInfo {
                    page: 0,
                    per_page: 100,
                    pages: 1,
                    total: 2,
                },
                report: CanaryReport {
                    topic: "logferry-monitor".into(),
                    evaluated_at_ms: Some(3_599_500),
                    window_ms: 60_000,
                    loss_rate: 0.004,
                    latency_p50_s: Some(0.004),
                    latency_p99_s: None,
                    violations: vec![CanaryViolation {
                        check: "loss_rate".into(),
                        detail: "loss rate 0.004 > 0".into(),
                    }],
                    partitions: vec![part(0, 0), part(1, 3)],
                },
            }),
        }
    }

    #[test]
    fn acl_and_canary_panels_show_their_figures_and_offer_edits_only_to_admins() {
        let q = Query::default();
        let html = render(&status_with_acls_and_canary(false), &q);
        assert!(html.contains("<b data-k=\"acls.generation\" data-fmt=\"int\">7</b>"));
        assert!(html.contains("<tr data-acl=\"deny:write:topic:secret.:User:&lt;mallory&gt;\">"));
        assert!(html.contains("<td>10.0.0.0/8</td>"));
        assert!(html.contains("<span class=\"bad\">failed: [[acl]] entry 2: &lt;bad&gt;</span>"));
        assert!(html.contains("super users User:admin"));
        assert!(!html.contains("<form") && !html.contains("data-acl-remove=\""));
        // Canary: lost in red on its row only, the failed check, an absent p99 as a dash.
        assert!(html.contains("<tr data-canary=\"1\">"));
        assert!(html.contains(
            "<td class=\"num bad\" data-k=\"canary.partitions.1.lost\" data-fmt=\"int\">3</td>"
        ));
        assert!(html.contains(
            "<td class=\"num\" data-k=\"canary.partitions.0.lost\" data-fmt=\"int\">0</td>"
        ));
        assert!(html.contains("data-fmt=\"pct\">99.5%</td>"));
        assert!(html.contains("data-fmt=\"secs\">1.50 s</td>"));
        assert!(html.contains("data-k=\"canary.latency_p99_s\" data-fmt=\"secs\">\u{2014}</span>"));
        assert!(html.contains("<p id=\"sla\" class=\"bad\">loss_rate: loss rate 0.004 &gt; 0</p>"));

        let html = render(&status_with_acls_and_canary(true), &q);
        assert!(html.contains("<form id=\"acl-add\""));
        // The remove button carries the rule as JSON, escaped for the attribute.
        assert!(html.contains(
            "data-acl-remove=\"{&quot;entry&quot;:1,&quot;permission&quot;:&quot;deny&quot;"
        ));
        assert_eq!(fmt_secs(Some(0.0125)), "13 ms");
        assert_eq!(fmt_pct(1.0), "100.0%");
    }

    #[test]
    fn charts_span_the_last_hour_and_scale_to_their_maximum() {
        let h = 3_600_000;
        let (line, area) = chart_paths(&[(0, 0.0), (h / 2, 5.0), (h, 10.0)], h, h);
        assert_eq!(line, "0.0,100.0 300.0,52.0 600.0,4.0");
        assert_eq!(area, "0.0,100 0.0,100.0 300.0,52.0 600.0,4.0 600.0,100");
        // Two hours of samples: the older one is clamped to the left edge.
        let (line, _) = chart_paths(&[(0, 1.0), (2 * h, 1.0)], 2 * h, h);
        assert_eq!(line, "0.0,4.0 600.0,4.0");
        // Ten minutes of history fill the width; a few seconds use a minute.
        let (line, _) = chart_paths(&[(h, 1.0), (h + 600_000, 1.0)], h + 600_000, h);
        assert_eq!(line, "0.0,4.0 600.0,4.0");
        let (line, _) = chart_paths(&[(h, 1.0), (h + 30_000, 1.0)], h + 30_000, h);
        assert_eq!(line, "300.0,4.0 600.0,4.0");
        assert_eq!(chart_paths(&[], 10, 10), (String::new(), String::new()));
    }
}
