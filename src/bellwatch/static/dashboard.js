(() => {
  "use strict";
  // Everything shown comes from /metrics?series=1; values are set with textContent only,
  // so an error message can never become markup.
  const cfg = JSON.parse(document.getElementById("bw-config").textContent);
  const query = new URLSearchParams(location.search);
  // ?refresh= seconds, 0.5 to an hour (default 2): a browser runs a timer longer than
  // 2^31 ms at once, so a huge value would poll /metrics in a tight loop.
  const asked = Number(query.get("refresh"));
  const refreshMs = (asked > 0 ? Math.min(Math.max(asked, 0.5), 3600) : 2) * 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const H = 170, L = 48, R = 10, T = 10, B = 20;
  let W = 600; // set per chart from its real width, so text is drawn at 1:1
  const $ = (id) => document.getElementById(id);
  // Bidi controls, invisible format characters and control characters in a route, a
  // message or the service name would let text pose as other text ("gnp.exe" drawn as
  // "exe.png") or reverse what stands beside it: show them as \uXXXX, as the CLI and
  // MCP do. Tab and newline stay (a cell draws them as spaces).
  const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  const shown = (text) =>
    String(text).replace(HIDDEN, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  let updates = 0;

  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtSec(s) {
    if (!Number.isFinite(s)) return "-";
    if (s === 0) return "0";
    if (s >= 1) return Number(s.toFixed(2)) + " s";
    return Number((s * 1000).toFixed(s < 0.01 ? 1 : 0)) + " ms";
  }
  const fmtPct = (p) => (Number.isFinite(p) ? p.toFixed(p >= 10 ? 0 : 1) + " %" : "-");
  const fmtNum = (n) => (Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: 1 }) : "-");
  const clock = (epoch) => new Date(epoch * 1000).toLocaleTimeString("en-GB", { hour12: false });

  // A y scale of at most 4 round steps (1, 2 or 5 times a power of ten) covering v.
  function scale(v) {
    if (!(v > 0)) return { top: 1, step: 0.25 };
    const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    return { top: step * Math.ceil(v / step - 1e-9), step };
  }

  // One chart: y grid with labels, x labels in minutes ago, then bars or a line.
  function chart(svg, opts) {
    svg.replaceChildren();
    W = Math.max(320, Math.round(svg.getBoundingClientRect().width) || 600);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const n = opts.n, { top, step } = scale(opts.max);
    const x = (i) => L + (i * (W - L - R)) / n;
    const y = (v) => H - B - (Math.min(v, top) / top) * (H - B - T);
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = y(v);
      svg.append(svgEl("line", { class: "grid", x1: L, x2: W - R, y1: yy, y2: yy }));
      svg.append(svgEl("text", { class: "axis", x: L - 4, y: yy + 3, "text-anchor": "end" }, opts.label(v)));
    }
    const perMin = 60 / opts.step;
    for (let m = 0; m * perMin <= n; m += 2) {
      const i = n - m * perMin;
      svg.append(svgEl("text", { class: "axis", x: x(i), y: H - 5, "text-anchor": m ? "middle" : "end" }, m ? `-${m}m` : "now"));
    }
    opts.draw(x, y, top);
    if (opts.empty) svg.append(svgEl("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, opts.empty));
  }

  function drawSeries(series) {
    const n = series.count.length, step = series.step;
    const when = (i) => clock(series.start + i * step);
    const rate = series.count.map((c) => c / step);
    const anyTraffic = series.count.some((c) => c > 0);
    chart($("chart-rate"), {
      n, step, max: Math.max(...rate), label: (v) => fmtNum(v) + "/s", empty: anyTraffic ? "" : "no requests yet",
      draw: (x, y) => {
        const svg = $("chart-rate");
        const w = Math.max(1, x(1) - x(0) - 1);
        series.count.forEach((c, i) => {
          if (!c) return;
          const e = series.errors[i], ce = series.client_errors[i], ok = c - e - ce;
          let base = 0;
          for (const [part, cls] of [[ok, "ok"], [ce, "warn"], [e, "err"]]) {
            if (!part) continue;
            const y0 = y(base / step), y1 = y((base + part) / step);
            const bar = svgEl("rect", { class: cls, x: x(i), y: y1, width: w, height: Math.max(0.5, y0 - y1) });
            bar.append(svgEl("title", {}, `${when(i)}  ${part} ${cls === "ok" ? "ok" : cls === "warn" ? "4xx" : "5xx"} of ${c} (${fmtNum(c / step)} req/s)`));
            svg.append(bar);
            base += part;
          }
        });
      },
    });
    const p95 = series.p95;
    chart($("chart-p95"), {
      // Scaled to the data; the slow threshold is drawn when in range, else named.
      n, step, max: Math.max(0.01, ...p95) * 1.15, label: (v) => fmtSec(v), empty: anyTraffic ? "" : "no requests yet",
      draw: (x, y, top) => {
        const svg = $("chart-p95");
        if (cfg.slow <= top) {
          const th = y(cfg.slow);
          svg.append(svgEl("line", { class: "threshold", x1: L, x2: W - R, y1: th, y2: th }));
        } else {
          svg.append(svgEl("text", { class: "axis", x: W - R, y: T + 10, "text-anchor": "end" }, `slow threshold ${fmtSec(cfg.slow)} (above)`));
        }
        const pts = [];
        p95.forEach((v, i) => { if (series.count[i]) pts.push([x(i + 0.5), y(v), i]); });
        if (!pts.length) return;
        const d = pts.map(([px, py], k) => `${k ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
        svg.append(svgEl("path", { class: "p95-area", d: `${d}L${pts[pts.length - 1][0].toFixed(1)},${H - B}L${pts[0][0].toFixed(1)},${H - B}Z` }));
        svg.append(svgEl("path", { class: "p95", d }));
        for (const [px, py, i] of pts) {
          const dot = svgEl("circle", { cx: px, cy: py, r: 2.5, class: p95[i] > cfg.slow ? "err" : "ok" });
          dot.append(svgEl("title", {}, `${when(i)}  p95 ${fmtSec(p95[i])} of ${series.count[i]} requests`));
          svg.append(dot);
        }
      },
    });
    const errPct = series.count.map((c, i) => (c ? (100 * series.errors[i]) / c : 0));
    const noErrors = anyTraffic ? (errPct.some((v) => v > 0) ? "" : "no 5xx in this window") : "no requests yet";
    chart($("chart-errors"), {
      n, step, max: Math.max(5, ...errPct), label: (v) => Number(v.toFixed(1)) + "%", empty: noErrors,
      draw: (x, y) => {
        const svg = $("chart-errors");
        const w = Math.max(1, x(1) - x(0) - 1);
        errPct.forEach((v, i) => {
          if (!v) return;
          const bar = svgEl("rect", { class: "err", x: x(i), y: y(v), width: w, height: Math.max(0.5, y(0) - y(v)) });
          bar.append(svgEl("title", {}, `${when(i)}  ${series.errors[i]} of ${series.count[i]} requests failed (${fmtPct(v)})`));
          svg.append(bar);
        });
      },
    });
  }

  function rows(id, items, cells, emptyText) {
    const body = $(id).tBodies[0];
    const out = items.map((item) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells(item)) {
        const td = document.createElement("td");
        if (cls) td.className = cls;
        if (cls && cls.startsWith("sev")) {
          const s = document.createElement("span");
          s.className = cls; s.textContent = shown(text); td.className = ""; td.append(s);
        } else td.textContent = shown(text);
        tr.append(td);
      }
      return tr;
    });
    if (!out.length) {
      const tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = $(id).tHead.rows[0].cells.length; td.className = "none"; td.textContent = emptyText;
      tr.append(td); out.push(tr);
    }
    body.replaceChildren(...out);
  }

  function tone(node, value, warnAt, badAt) {
    node.classList.remove("good", "warn", "bad");
    node.classList.add(value >= badAt ? "bad" : value >= warnAt ? "warn" : "good");
  }

  function render(doc) {
    const perf = doc.performance || {}, win = doc.window || {}, errs = doc.errors || {}, series = doc.series;
    $("status").textContent = doc.status || "unknown";
    $("status").className = "badge " + (doc.status || "");
    $("total-requests").textContent = fmtNum(perf.total_requests);
    // With Redis the tiles and tables are the cluster's, but the charts and the slow
    // requests are the 5-second buckets of the worker that answered: say so, and show
    // the cluster's requests of its 5-minute window rather than that one worker's minute.
    const cluster = doc.source === "cluster", worker = shown((doc.process || {}).worker || "?");
    $("scope").textContent = cluster
      ? `cluster of workers; charts and slow requests: worker ${worker} only`
      : `worker ${worker} only` + (doc.stale ? " (the shared store is unreachable)" : "");
    $("rpm-label").textContent = cluster ? "Requests (5 min)" : "Requests / min";
    if (cluster) $("rpm").textContent = fmtNum(win.total_requests);
    if (series) {
      const perMin = Math.round(60 / series.step);
      if (!cluster) $("rpm").textContent = fmtNum(series.count.slice(-perMin).reduce((a, b) => a + b, 0));
      drawSeries(series);
    } else {
      if (!cluster) $("rpm").textContent = "-";
      for (const id of ["chart-rate", "chart-p95", "chart-errors"]) {
        chart($(id), { n: 60, step: 5, max: 1, label: () => "", empty: "no series in /metrics", draw: () => {} });
      }
    }
    $("p95").textContent = fmtSec(win.p95);
    tone($("p95"), win.p95, cfg.slow / 2, cfg.slow);  // at the threshold: the verdict says warning
    $("avg").textContent = fmtSec(win.avg_response_time);
    $("error-rate").textContent = fmtPct(win.error_rate);
    tone($("error-rate"), win.error_rate, cfg.warn_rate, cfg.bad_rate);
    $("client-error-rate").textContent = fmtPct(win.client_error_rate);
    $("slow-total").textContent = fmtNum(perf.slow_requests);
    $("slow-threshold").textContent = fmtSec(cfg.slow);
    $("sessions").textContent = fmtNum(perf.active_sessions);
    $("patterns").textContent = fmtNum(errs.total_unique_errors);
    $("error-count").textContent = fmtNum(errs.total_error_count);
    rows("errors", errs.top_errors || [], (e) => [
      [fmtNum(e.count), "num"], [e.users === null || e.users === undefined ? "-" : fmtNum(e.users), "num"],
      [e.severity, "sev " + e.severity],
      [`${e.type}: ${e.message}`, ""], [e.endpoint || "-", "mono"], [e.hash, "mono"],
    ], "no errors recorded");
    rows("slow", (series && series.slow_recent) || [], (s) => [
      [clock(s.ts), "mono"], [s.path, "mono"], [String(s.status), "num"], [fmtSec(s.duration), "num"], [s.cid || "-", "mono"],
    ], `no request over ${fmtSec(cfg.slow)} yet`);
    const eps = Object.entries(doc.endpoints || {}).sort((a, b) => b[1].count - a[1].count);
    rows("endpoints", eps, ([path, e]) => [
      [path, "mono"], [fmtNum(e.count), "num"], [fmtSec(e.p95), "num"], [fmtPct(e.count ? (100 * e.errors) / e.count : 0), "num"],
    ], "no requests yet");
    renderUsers(doc.users || {}, errs.top_errors || []);
    const biz = doc.business || { counters: {}, ratios: {} };
    const items = [
      ...Object.entries(biz.ratios || {}).map(([k, v]) => [k, v === null ? "-" : fmtPct(v)]),
      ...Object.entries(biz.counters || {}).map(([k, v]) => [k, fmtNum(v)]),
    ];
    rows("business", items, ([k, v]) => [[k, "mono"], [v, "num"]], "no business metrics recorded");
  }

  // Distinct users (HyperLogLog estimates: /metrics says the relative error) and the
  // users each of the top errors affected.
  function renderUsers(users, topErrors) {
    const active = users.active || {};
    $("users-active").textContent = users.counted ? fmtNum(active["5m"]) : "-";
    $("users-hour").textContent = users.counted ? fmtNum(active["1h"]) : "-";
    $("users-day").textContent = users.counted ? fmtNum(active["24h"]) : "-";
    $("users-source").textContent = users.counted
      ? `${users.source === "cluster" ? "cluster" : "this process"}, ±${fmtPct(100 * users.error)}`
      : "not counted";
    const per = (users.per_user_24h || {}).requests || {};
    const items = users.counted ? [
      ["active, 5 min", fmtNum(active["5m"])], ["active, 1 h", fmtNum(active["1h"])],
      ["active, 24 h", fmtNum(active["24h"])], ["new, 24 h", fmtNum(users.new_24h)],
      ["returning, 24 h", fmtNum(users.returning_24h)],
      ["requests per user, p50 / p95", per.p50 === null || per.p50 === undefined ? "-" : `${per.p50} / ${per.p95}`],
    ] : [];
    rows("users", items, ([k, v]) => [[k, ""], [v, "num"]],
      users.reason ? `not counted: ${users.reason}` : "not counted");
    const hurt = topErrors.filter((e) => e.users).sort((a, b) => b.users - a.users).slice(0, 5);
    rows("users-errors", hurt, (e) => [
      [fmtNum(e.users), "num"], [`${e.type}: ${e.message}`, ""], [e.hash, "mono"],
    ], "no user affected by an error");
  }

  async function tick() {
    try {
      const r = await fetch(cfg.metrics + "?series=1", {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      if (r.status === 401) throw new Error("unauthorized: open /dashboard?token=<metrics token>");
      if (!r.ok) throw new Error(`${cfg.metrics} answered ${r.status}`);
      render(await r.json());
      updates += 1;
      document.body.dataset.updates = String(updates);
      $("banner").hidden = true;
      $("updated").textContent = "updated " + new Date().toLocaleTimeString("en-GB", { hour12: false });
    } catch (err) {
      $("banner").hidden = false;
      $("banner").textContent = String(err.message || err);
      $("status").textContent = "offline";
      $("status").className = "badge offline";
    } finally {
      setTimeout(tick, refreshMs);
    }
  }

  $("service").textContent = shown(cfg.service);
  document.title = `${shown(cfg.service)} · bellwatch`;
  tick();
})();
