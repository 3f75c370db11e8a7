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
        let rate: Vec<(u64, f64)> = s.history.iter().map(|p| (p.t_ms, p.lines_per_s)).collect();
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
    broker_panels(&mut out, st, q);
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
