// logferry console: every 5 s, re-read /api/v1/status (same query as the page) and update the
// bound elements (data-k: a path into the JSON; data-series: a chart). When the rows on the
// page changed (data-sig), reload it: the server renders the new rows.
"use strict";
(function () {
  var W = 600, H = 100;
  var fmt = {
    int: function (v) { return String(v); },
    text: function (v) { return v == null ? "\u2014" : String(v); },
    bytes: function (n) {
      if (n < 1024) return n + " B";
      var u = ["KiB", "MiB", "GiB", "TiB"], i = -1;
      while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
      return n.toFixed(1) + " " + u[i];
    },
    rate: function (x) { return x < 10 ? x.toFixed(1) : String(Math.round(x)); },
    age: function (s) {
      if (s < 60) return s + "s";
      if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
      return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
    },
    time: function (ms) { return new Date(ms).toISOString().slice(11, 19); },
    state: function (v) { return v.replace(/_/g, " "); },
    pct: function (x) { return (x * 100).toFixed(1) + "%"; },
    secs: function (s) {
      if (s == null) return "\u2014";
      return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(2) + " s";
    }
  };
  function get(obj, path) {
    return path.split(".").reduce(function (o, k) { return o == null ? o : o[k]; }, obj);
  }
  function sig(st) {
    var p = [];
    if (st.agent) {
      st.agent.sections.forEach(function (s) {
        var last = s.events.length ? s.events[s.events.length - 1].t_ms : 0;
        p.push("s:" + s.name + ":" + (s.alert ? 1 : 0) + ":" + last + ":" + Object.keys(s.lost).sort().join(","));
      });
      p.push("l:" + Object.keys(st.agent.totals.lost).sort().join(","));
    }
    if (st.acls) {
      var r = st.acls.last_reload;
      p.push("a:" + st.acls.generation + ":" + st.acls.rules.length + ":" + (st.acls.admin ? 1 : 0) + ":" +
        (r == null ? "none" : r.ok ? "ok" : "failed"));
    }
    if (st.canary) {
      p.push("c:" + (st.canary.evaluated_at_ms != null ? 1 : 0) + ":" +
        st.canary.partitions.map(function (x) { return x.partition; }).join(","));
    }
    if (st.broker) {
      st.broker.topics.forEach(function (t) { p.push("t:" + t.name); });
      st.broker.partitions.forEach(function (x) { p.push("p:" + x.topic + "/" + x.partition); });
      st.broker.groups.forEach(function (g) {
        p.push("g:" + g.group_id + ":" + g.members.length + ":" + g.offsets.length);
      });
    }
    return p.join(";");
  }
  function paths(points, end, span) {
    var max = points.reduce(function (m, p) { return Math.max(m, p[1]); }, 0);
    var scale = max > 0 ? max : 1, MIN = 60000;
    var first = points.length ? points[0][0] : end;
    span = Math.min(Math.max(end - first, MIN), Math.max(span, MIN));
    var start = end - span;
    var xy = points.map(function (p) {
      var x = Math.min(W, Math.max(0, (p[0] - start) / span * W));
      return [x, H - p[1] / scale * (H - 4)];
    });
    var line = xy.map(function (q) { return q[0].toFixed(1) + "," + q[1].toFixed(1); }).join(" ");
    var area = xy.length ? xy[0][0].toFixed(1) + "," + H + " " + line + " " + xy[xy.length - 1][0].toFixed(1) + "," + H : "";
    return [line, area, max];
  }
  function update(st) {
    if (sig(st) !== document.body.getAttribute("data-sig")) { location.reload(); return; }
    document.querySelectorAll("[data-k]").forEach(function (el) {
      var v = get(st, el.getAttribute("data-k")), f = el.getAttribute("data-fmt");
      if (v === undefined) return;
      el.textContent = (fmt[f] || fmt.text)(v);
      if (f === "state") el.className = "badge st-" + v;
      if (/^canary\.partitions\.\d+\.(lost|duplicated)$/.test(el.getAttribute("data-k"))) {
        el.className = v > 0 ? "num bad" : "num";
      }
    });
    var sla = document.getElementById("sla");
    if (sla && st.canary) {
      var v = st.canary.violations;
      sla.className = v.length ? "bad" : "ok";
      sla.textContent = v.length ? v.map(function (x) { return x.check + ": " + x.detail; }).join("; ") : "SLA met";
    }
    var span = st.sample_interval_ms * st.history_capacity;
    document.querySelectorAll("svg[data-series]").forEach(function (svg) {
      var series = get(st, svg.getAttribute("data-series")) || [], y = svg.getAttribute("data-y");
      var r = paths(series.map(function (s) { return [s.t_ms, s[y]]; }), st.generated_at_ms, span);
      svg.querySelector("polyline").setAttribute("points", r[0]);
      svg.querySelector("polygon").setAttribute("points", r[1]);
      var max = svg.parentNode.querySelector(".max");
      if (max) max.textContent = fmt[svg.getAttribute("data-fmt")](r[2]);
    });
    // Tells a reader (and the browser test) that the live update ran.
    document.body.setAttribute("data-live", String(st.generated_at_ms));
  }
  function poll() {
    var q = document.body.getAttribute("data-query");
    fetch("api/v1/status" + (q ? "?" + q : ""), { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (st) { if (st) update(st); })
      .catch(function () {})
      .then(function () { setTimeout(poll, 5000); });
  }
  // ACL edits (only rendered when an admin token is configured): the token typed once is
  // kept for this tab (sessionStorage) and sent as a Bearer header, never put in the page.
  var KEY = "logferry-admin-token";
  function acl(method, rule, form) {
    var msg = document.getElementById("acl-msg");
    var t = form && form.token.value ? form.token.value : sessionStorage.getItem(KEY);
    if (!t) { if (msg) msg.textContent = "the admin token is needed"; return; }
    fetch("api/v1/acls", {
      method: method,
      headers: { "Authorization": "Bearer " + t, "Content-Type": "application/json" },
      body: JSON.stringify(rule)
    }).then(function (r) {
      return r.text().then(function (body) {
        if (r.ok) { sessionStorage.setItem(KEY, t); location.reload(); return; }
        if (r.status === 401 || r.status === 403) sessionStorage.removeItem(KEY);
        if (msg) { msg.textContent = r.status + ": " + body; msg.className = "bad"; }
      });
    }).catch(function (e) { if (msg) { msg.textContent = String(e); msg.className = "bad"; } });
  }
  var form = document.getElementById("acl-add");
  if (form) {
    if (sessionStorage.getItem(KEY)) form.token.placeholder = "(kept for this tab)";
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var rule = {};
      ["permission", "operation", "resource_type", "pattern_type", "resource_name", "principal", "host"]
        .forEach(function (k) { rule[k] = form[k].value; });
      acl("POST", rule, form);
    });
  }
  document.querySelectorAll("button[data-acl-remove]").forEach(function (b) {
    b.addEventListener("click", function () {
      acl("DELETE", JSON.parse(b.getAttribute("data-acl-remove")), form);
    });
  });
  setTimeout(poll, 5000);
})();
