// The operator's dashboard: reads /dashboard/api/* and draws SVG charts (no library, no CDN).
// Every text that comes from data goes through textContent, never innerHTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const LIKELY = 0.5; // a forecast minute is a likely violation from this probability on
const REFRESH_MS = 60000;
const STAGE_ORDER = ["query", "statistics", "metadata", "forecast", "publish"];
const PHASE_ORDER = ["start", "discover", "query", "analyze", "publish", "total"];
const WINDOW_COLORS = ["#1f6fb2", "#0f766e", "#a16207", "#7c3aed", "#be185d"];

// slaId: the SLA the chart draws (one at a time: two SLAs on one metric have two ranges).
const state = { series: [], seriesId: null, range: "1h", slaId: null, last: null, timings: null };
const $ = (id) => document.getElementById(id);
const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 2 });

// ---- helpers ------------------------------------------------------------------------------

// The read token, when reads need one: typed into the page, kept in this tab's
// sessionStorage (never in the URL), sent as a bearer token.
const TOKEN_KEY = "dashboard-read-token";

async function getJSON(url) {
  let response;
  const headers = { Accept: "application/json" };
  const token = window.sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    response = await fetch(url, { headers });
  } catch (err) {
    throw new Error(`network error: ${err.message}`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (response.status === 401) $("token-form").hidden = false;
  if (!response.ok) {
    const reason = body && body.reason ? body.reason : response.statusText;
    throw new Error(`${response.status} ${(body && body.error) || "error"}: ${reason}`);
  }
  return body;
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function html(tag, text, parent, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

function showError(id, error) {
  const node = $(id);
  node.hidden = !error;
  node.textContent = error ? String(error.message || error) : "";
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

function formatValue(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return Math.abs(v) >= 10000 ? compact.format(v) : String(Number(v.toPrecision(4)));
}

function formatSeconds(s) {
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)} ms`;
  return `${s.toFixed(2)} s`;
}

function formatTime(ms, seconds) {
  const iso = new Date(ms).toISOString();
  return seconds ? iso.slice(11, 19) : iso.slice(11, 16);
}

function seriesName(s) {
  const labels = Object.entries(s.labels || {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${s.metric}{${labels}}`;
}

function niceTicks(min, max, count) {
  const raw = (max - min) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(v);
  return ticks;
}

function timeTicks(min, max, width) {
  const minutes = [1, 2, 5, 10, 15, 20, 30, 60, 120, 180];
  const wanted = Math.max(3, Math.floor(width / 90));
  const span = (max - min) / 60000;
  const step = (minutes.find((m) => span / m <= wanted) || 360) * 60000;
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max; t += step) ticks.push(t);
  return ticks;
}

function scale(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

function chartMessage(svg, text, x, y) {
  const node = el("text", { x, y, class: "chart-message" }, svg);
  node.textContent = text;
}

// ---- the series chart ---------------------------------------------------------------------

function drawSeriesChart() {
  const svg = $("series-chart");
  clear(svg);
  const data = state.last;
  if (!data) return;
  const { samples, forecast, sla } = data;
  const width = svg.clientWidth || 900;
  const height = svg.clientHeight || 400;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // What was drawn, for whoever checks the chart (the browser test): the samples' range.
  svg.dataset.start = samples ? samples.start : "";
  svg.dataset.end = samples ? samples.end : "";
  const m = { l: 58, r: 60, t: 10, b: 24 };

  const points = samples ? samples.points.map(([t, v]) => [t * 1000, v]) : [];
  const fc = forecast && forecast.forecast ? forecast.forecast.points : [];
  const fcPoints = fc.map((p) => ({ ...p, t: Date.parse(p.timestamp) }));
  const drawnSla = chosenSla(sla);
  // What was drawn, for whoever checks the chart (the browser test): the SLA's id.
  svg.dataset.slaId = drawnSla ? drawnSla.sla.id : "";
  const band = drawnSla ? { min: drawnSla.min, max: drawnSla.max } : { min: null, max: null };
  const predicted = [];
  for (const minute of (drawnSla && drawnSla.prediction && drawnSla.prediction.minutes)
    || []) {
    predicted.push({ t: Date.parse(minute.at), v: minute.value, p: minute.probability_outside,
      sla: drawnSla.sla.name });
  }

  const times = [...points.map((p) => p[0]), ...fcPoints.map((p) => p.t),
    ...predicted.map((p) => p.t)];
  if (samples) times.push(samples.start * 1000, samples.end * 1000);
  const values = [
    ...points.map((p) => p[1]),
    ...fcPoints.flatMap((p) => [p.value, p.lower_95, p.upper_95]),
    ...predicted.map((p) => p.v),
    band.min, band.max,
  ].filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (!times.length || !values.length) {
    chartMessage(svg, "No data to draw for this series.", m.l + 10, m.t + 30);
    return;
  }
  const x0 = samples ? samples.start * 1000 : Math.min(...times);
  const x1 = Math.max(...times);
  let y0 = Math.min(...values);
  let y1 = Math.max(...values);
  const pad = (y1 - y0) * 0.06 || Math.abs(y0) * 0.05 || 1;
  y0 -= pad;
  y1 += pad;
  const x = scale(x0, x1, m.l, width - m.r);
  const y = scale(y0, y1, height - m.b, m.t);

  const clipId = "plot-clip";
  const defs = el("defs", {}, svg);
  el("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b },
    el("clipPath", { id: clipId }, defs));

  // grid and axes
  const grid = el("g", { class: "grid" }, svg);
  const axis = el("g", { class: "axis" }, svg);
  for (const v of niceTicks(y0, y1, 6)) {
    el("line", { x1: m.l, x2: width - m.r, y1: y(v), y2: y(v) }, grid);
    const label = el("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end" }, axis);
    label.textContent = formatValue(v);
  }
  for (const t of timeTicks(x0, x1, width - m.l - m.r)) {
    el("line", { x1: x(t), x2: x(t), y1: m.t, y2: height - m.b }, grid);
    if (x(t) > width - m.r - 20) continue; // its label would run into "UTC"
    const label = el("text", { x: x(t), y: height - 8, "text-anchor": "middle" }, axis);
    label.textContent = formatTime(t);
  }
  const utc = el("text", { x: width - m.r, y: height - 8, "text-anchor": "start", dx: 6 }, axis);
  utc.textContent = "UTC";

  const plot = el("g", { "clip-path": `url(#${clipId})` }, svg);

  // SLA band: the range of the SLA chosen in the SLA panel
  if (band.min !== null || band.max !== null) {
    const top = band.max !== null ? y(band.max) : m.t;
    const bottom = band.min !== null ? y(band.min) : height - m.b;
    el("rect", { class: "sla-band", x: m.l, y: top, width: width - m.l - m.r,
      height: Math.max(0, bottom - top) }, plot);
    for (const [bound, name] of [[band.max, "max"], [band.min, "min"]]) {
      if (bound === null) continue;
      el("line", { class: "sla-bound", x1: m.l, x2: width - m.r, y1: y(bound), y2: y(bound) },
        svg);
      const label = el("text", { class: "sla-label", x: width - m.r + 4, y: y(bound) + 4 }, svg);
      label.textContent = `${name} ${formatValue(bound)}`;
    }
  }

  // forecast intervals, then its mean continuing the last sample
  if (fcPoints.length) {
    for (const [lo, hi, cls] of [["lower_95", "upper_95", "band-95"],
      ["lower_80", "upper_80", "band-80"]]) {
      const usable = fcPoints.filter((p) => p[lo] !== null && p[hi] !== null);
      if (!usable.length) continue;
      const upper = usable.map((p) => `${x(p.t)},${y(p[hi])}`);
      const lower = usable.slice().reverse().map((p) => `${x(p.t)},${y(p[lo])}`);
      el("polygon", { class: cls, points: [...upper, ...lower].join(" ") }, plot);
    }
  }

  // samples: a null (NaN) or a gap (over 1.5 scrape intervals between samples) breaks the line
  const gapMs = samples && samples.interval_seconds ? 1500 * samples.interval_seconds : Infinity;
  let d = "";
  let pen = false;
  let drawn = 0;
  let previous = null;
  for (const [t, v] of points) {
    if (v === null) {
      pen = false;
      continue;
    }
    if (previous !== null && t - previous > gapMs) pen = false;
    d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
    previous = t;
    drawn += 1;
  }
  el("path", { class: "samples-line", d, "data-points": drawn }, plot);

  if (fcPoints.length) {
    const last = points.filter((p) => p[1] !== null).pop();
    const line = (last ? [`${x(last[0])},${y(last[1])}`] : []).concat(
      fcPoints.map((p) => `${x(p.t)},${y(p.value)}`));
    el("polyline", { class: "forecast-line", points: line.join(" "),
      "data-points": fcPoints.length }, plot);
  }

  // past violations: samples outside the band
  const violations = el("g", { class: "violations" }, plot);
  for (const [t, v] of points) {
    if (v === null) continue;
    if ((band.max !== null && v > band.max) || (band.min !== null && v < band.min)) {
      const dot = el("circle", { class: "violation", cx: x(t), cy: y(v), r: 2.8 }, violations);
      el("title", {}, dot).textContent = `${formatTime(t, true)}  ${formatValue(v)} outside`;
    }
  }

  // predicted violations: the SLA manager's forecast minutes with their probability
  const marks = el("g", { class: "predictions" }, svg);
  for (const p of predicted) {
    if (p.v === null) continue;
    const cls = p.p >= LIKELY ? "predicted likely" : "predicted";
    const dot = el("circle", { class: cls, cx: x(p.t), cy: y(p.v), r: 3.6 }, marks);
    el("title", {}, dot).textContent =
      `${p.sla}: ${formatTime(p.t)}  ${formatValue(p.v)}  P(outside) ${(p.p * 100).toFixed(0)} %`;
    if (p.p >= 0.05) {
      const label = el("text", { class: "predicted-label", x: x(p.t), y: y(p.v) - 7,
        "text-anchor": "middle" }, marks);
      label.textContent = `${(p.p * 100).toFixed(0)}%`;
    }
  }

  if (samples) {
    const now = x(samples.end * 1000);
    el("line", { class: "now-line", x1: now, x2: now, y1: m.t, y2: height - m.b }, svg);
  }
  // The drawn SLA's budget left and fastest burn, over the forecast's corner of the chart.
  const budgetText = drawnSla ? budgetSummary(drawnSla) : null;
  if (budgetText) {
    const label = el("text", { class: "sla-budget", x: width - m.r - 6, y: m.t + 14,
      "text-anchor": "end", "data-sla": drawnSla.sla.id }, svg);
    label.textContent = budgetText;
  }
  if (!samples) chartMessage(svg, "Samples unavailable (see the error above).", m.l + 10, m.t + 20);
  else if (!points.length) chartMessage(svg, samples.reason, m.l + 10, m.t + 20);
}

// ---- side panels --------------------------------------------------------------------------

function table(parent, head, rows) {
  const t = html("table", null, parent);
  const tr = html("tr", null, html("thead", null, t));
  for (const h of head) html("th", h, tr);
  const body = html("tbody", null, t);
  for (const row of rows) {
    const r = html("tr", null, body, row.className);
    for (const cell of row.cells) html("td", cell, r);
  }
  return t;
}

// The SLA entry the chart draws: the one chosen, else the newest (highest id) on the series.
function chosenSla(sla) {
  if (!sla || !sla.slas.length) return null;
  const chosen = sla.slas.find((e) => String(e.sla.id) === String(state.slaId));
  return chosen || sla.slas.reduce((a, b) => (b.sla.id > a.sla.id ? b : a));
}

function slaLabel(entry) {
  const range = `[${formatValue(entry.min)}, ${formatValue(entry.max)}]`;
  return `${entry.sla.name} v${entry.sla.version} (#${entry.sla.id}): ${entry.metric} in ${range}`;
}

function drawSla(sla) {
  const body = $("sla-body");
  const select = $("sla-select");
  clear(body);
  clear(select);
  $("sla-count").textContent = "";
  const drawn = chosenSla(sla);
  select.closest("label").hidden = !drawn;
  // The legend names the SLA whose band, violations and predictions the chart draws.
  $("sla-drawn").textContent = drawn
    ? `SLA band: ${drawn.sla.name} v${drawn.sla.version} (#${drawn.sla.id})` : "SLA band";
  if (!sla) return;
  if (!drawn) {
    html("p", "No current SLA on this series' metric. Define one with POST /SLA on the SLA "
      + "manager.", body, "muted");
    return;
  }
  // Several SLAs can cover one metric: the operator picks the one drawn.
  for (const entry of sla.slas) {
    const option = html("option", slaLabel(entry), select);
    option.value = String(entry.sla.id);
  }
  select.value = String(drawn.sla.id);
  select.disabled = sla.slas.length < 2;
  $("sla-count").textContent = sla.slas.length > 1
    ? `${sla.slas.length} on this series, one drawn` : "";
  html("div", slaLabel(drawn), body, "sla-name");
  if (drawn.reason) html("p", drawn.reason, body, "muted");
  if (drawn.in_range_now !== null) {
    html("span", drawn.in_range_now ? "in range now" : "OUTSIDE the range now", body,
      drawn.in_range_now ? "ok" : "bad");
    html("span", `  assessed ${formatTime(Date.parse(drawn.assessed_at), true)} UTC`, body,
      "muted");
  }
  drawBudget(drawn, body);
  if (drawn.windows) {
    table(body, ["past", "samples out", "episodes", "time out", "within"],
      Object.entries(drawn.windows).map(([w, f]) => ({
        className: f.samples_outside > 0 ? "violated" : "",
        cells: [w, `${f.samples_outside} / ${f.samples}`, f.episodes,
          formatSeconds(f.seconds_outside).replace(".00 s", " s"),
          `${(f.within_range_ratio * 100).toFixed(1)} %`],
      })));
  }
  const pred = drawn.prediction;
  if (pred) {
    const first = pred.first_likely_violation
      ? ` from ${formatTime(Date.parse(pred.first_likely_violation))}` : "";
    html("p", `next ${(pred.minutes || []).length} min: violation ${pred.likely ? "likely" : "unlikely"}`
      + `${first} (max P ${((pred.max_probability || 0) * 100).toFixed(0)} %)`
      + `${pred.reason ? `; ${pred.reason}` : ""}`, body, pred.likely ? "bad" : "muted");
    if ((pred.minutes || []).length) {
      table(body, ["minute", "forecast", "80 %", "P outside"], pred.minutes.map((mi) => ({
        className: mi.probability_outside >= LIKELY ? "likely" : "",
        cells: [formatTime(Date.parse(mi.at)), formatValue(mi.value),
          `${formatValue(mi.lower_80)} – ${formatValue(mi.upper_80)}`,
          `${(mi.probability_outside * 100).toFixed(1)} %`],
      })));
    }
  }
}

// ---- error budget --------------------------------------------------------------------------

const BURN_WINDOWS = ["5m", "30m", "1h", "6h"];
function formatDuration(s) {
  if (s < 3600) return `${(s / 60).toFixed(0)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

// A burn rate in three significant digits at most (the row of four fits the side panel).
function formatBurn(rate) {
  return `${rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2)}×`;
}

// The budget left, as a percent of the period's budget, the way the page shows it everywhere.
function formatBudgetLeft(left) {
  return `${(left * 100).toFixed(1)} %`;
}

// Per burn window: the alert pairs it takes part in whose factor its burn rate exceeds. The
// pairs and their factors come with the stored assessment (sla_manager/budget.py,
// ALERT_WINDOWS): a pair fires when both its windows burn faster than its factor.
function burnAlerts(budget) {
  const over = {};
  for (const pair of budget.alerts || []) {
    for (const w of [pair.short, pair.long]) {
      const figures = budget.burn_rates && budget.burn_rates[w];
      if (!figures || figures.burn_rate === null || figures.burn_rate <= pair.factor) continue;
      (over[w] = over[w] || []).push(pair);
    }
  }
  return over;
}

function budgetSummary(entry) {
  if (!entry.assessed_at) return null;
  if (!entry.objective) return "no objective";
  const budget = entry.budget;
  const period = budget && budget.period_budget;
  if (!period) return null;
  const fastest = BURN_WINDOWS.filter((w) => budget.burn_rates && budget.burn_rates[w]
    && budget.burn_rates[w].burn_rate !== null)
    .reduce((a, w) => (!a || budget.burn_rates[w].burn_rate > budget.burn_rates[a].burn_rate
      ? w : a), null);
  const burn = fastest ? ` · burn ${formatBurn(budget.burn_rates[fastest].burn_rate)} (${fastest})`
    : "";
  return `budget left ${formatBudgetLeft(period.budget_left)}${burn}`;
}

// The error budget of the drawn SLA's series (from the SLA manager's last stored assessment):
// the budget left of the period and when it runs out at the current rate, and the burn rate
// per window, those over an alert pair's factor highlighted (page red, ticket amber).
function drawBudget(entry, body) {
  const box = html("div", null, body, "budget");
  box.id = "sla-budget";
  box.dataset.sla = String(entry.sla.id);
  if (!entry.assessed_at) return;
  if (!entry.objective) {
    html("p", "no objective: no error budget to spend", box, "muted");
    return;
  }
  const budget = entry.budget;
  const head = `${formatValue(entry.objective.objective)} % over ${entry.objective.period}`;
  if (!budget) {
    html("p", `${head}: no budget for this series yet`, box, "muted");
    return;
  }
  // One line for the period's budget and one row for the burn rates: the page fits 768 px.
  const period = budget.period_budget;
  const line = html("p", null, box, "budget-line");
  html("span", `${head}: budget left `, line);
  if (period) {
    const left = html("span", formatBudgetLeft(period.budget_left), line,
      period.budget_left <= 0 ? "bad" : "ok");
    left.id = "budget-left";
    left.dataset.value = String(period.budget_left);
    const exhaustion = period.seconds_to_exhaustion;
    html("span", exhaustion === null || exhaustion === undefined ? ", not burning"
      : exhaustion <= 0 ? ", spent" : `, gone in ${formatDuration(exhaustion)}`, line, "muted");
  } else {
    html("span", `– (${budget.period_reason || "no period figure"})`, line, "muted");
  }
  const over = burnAlerts(budget);
  const row = html("tr", null, html("tbody", null, html("table", null, box, "burn")));
  const first = html("td", "burn", row);
  first.title = "burn rate per window: 1× spends exactly the budget in one period";
  for (const w of BURN_WINDOWS) {
    const figures = budget.burn_rates && budget.burn_rates[w];
    const alerts = over[w] || [];
    const severity = alerts.some((a) => a.severity === "page") ? "page"
      : alerts.length ? "ticket" : "";
    const cell = html("td", null, row, severity ? `burn-${severity}` : "");
    html("span", `${w} `, cell, "window");
    html("span", figures && figures.burn_rate !== null ? formatBurn(figures.burn_rate) : "–", cell);
    cell.dataset.window = w;
    if (alerts.length) {
      cell.title = alerts.map((a) => `over ${formatValue(a.factor)}×: the ${a.severity} `
        + `alert's threshold (${a.short}/${a.long})`).join("; ");
    }
  }
}

function drawForecastInfo(forecast) {
  const body = $("forecast-body");
  clear(body);
  if (!forecast) return;
  const f = forecast.forecast;
  if (!f) {
    html("p", `${forecast.window}: ${forecast.reason}`, body, "muted");
    return;
  }
  table(body, ["window " + f.window, f.aggregate + " of " + f.bucket_seconds / 60 + "-min buckets"], [
    { cells: ["series", summaryText(forecast.summary)] },
    { cells: ["model, period", `${f.model || "–"}, ${f.period_buckets ?? "–"} buckets`] },
    { cells: ["holdout MAE / MASE", `${formatValue(f.holdout_mae)} / ${formatValue(f.holdout_mase)}`] },
    { cells: ["run", `${f.run_id.slice(0, 8)} at ${formatTime(Date.parse(f.computed_at), true)}`] },
  ]);
  if (f.reason) html("p", f.reason, body, "muted");
}

// The series at one look, short enough for one row of the forecast table (the page fits a
// laptop screen): type and transform, domain, scrape interval and gaps, season.
const DOMAINS = { free: "free", non_negative: "≥ 0", unit_interval: "[0, 1]", percent: "[0, 100]" };

function summaryText(summary) {
  if (!summary) return "–";
  const parts = [];
  if (summary.metric_type) parts.push(`${summary.metric_type} ${summary.transform || "raw"}`);
  if (summary.domain) parts.push(DOMAINS[summary.domain] || summary.domain);
  if (summary.interval_seconds) {
    parts.push(`${formatValue(summary.interval_seconds)} s, ${summary.gaps ?? 0} gaps`);
  }
  const season = summary.seasonality;
  if (season) parts.push(season.period_minutes ? `season ${formatValue(season.period_minutes)} min` : "no season");
  return parts.join(" · ") || "–";
}

// ---- timings ------------------------------------------------------------------------------

function ordered(keys, order) {
  return [...order.filter((k) => keys.includes(k)), ...keys.filter((k) => !order.includes(k))];
}

function barChart(svg, rows, groups, colors, caption) {
  clear(svg);
  const width = svg.clientWidth || 500;
  const height = svg.clientHeight || 200;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const m = { l: 68, r: 62, t: 18, b: 4 };
  const title = el("text", { class: "tick-label", x: m.l, y: 11 }, svg);
  title.textContent = caption;
  groups.forEach((g, i) => {
    const lx = width - m.r - (groups.length - i) * 48 + 50;
    el("rect", { x: lx, y: 3, width: 9, height: 9, fill: colors[i % colors.length] }, svg);
    el("text", { class: "tick-label", x: lx + 12, y: 11 }, svg).textContent = g;
  });
  const max = Math.max(...rows.flatMap((r) => r.values.filter((v) => v !== undefined)), 1e-9);
  const x = scale(0, max, m.l, width - m.r);
  const rowH = (height - m.t - m.b) / Math.max(rows.length, 1);
  const barH = Math.max(2, (rowH * 0.8) / groups.length);
  rows.forEach((row, i) => {
    const top = m.t + i * rowH + rowH * 0.1;
    const label = el("text", { class: "tick-label", x: m.l - 6, y: top + rowH * 0.45,
      "text-anchor": "end", "dominant-baseline": "middle" }, svg);
    label.textContent = row.name;
    row.values.forEach((v, j) => {
      if (v === undefined) return;
      const by = top + j * barH;
      const bar = el("rect", { class: "bar", x: m.l, y: by, height: barH - 1,
        width: Math.max(1, x(v) - m.l), fill: colors[j % colors.length] }, svg);
      el("title", {}, bar).textContent = `${row.name} ${groups[j]}: ${formatSeconds(v)}`;
      const text = el("text", { class: "bar-label", x: Math.max(1, x(v) - m.l) + m.l + 3,
        y: by + barH / 2, "dominant-baseline": "middle" }, svg);
      text.textContent = formatSeconds(v);
    });
  });
}

function drawTimings() {
  const t = state.timings;
  if (!t) return;
  if (!t.run) {
    $("run-info").textContent = t.reason;
    clear($("timings-chart"));
    clear($("phases-chart"));
    return;
  }
  const run = t.run;
  $("run-info").textContent = `run ${run.run_id.slice(0, 8)} · ${run.status} · finished `
    + `${formatTime(Date.parse(run.finished_at), true)} UTC · ${run.series_count} series`;
  const windows = Object.keys(t.windows);
  const stages = ordered([...new Set(windows.flatMap((w) => Object.keys(t.windows[w])))],
    STAGE_ORDER);
  barChart($("timings-chart"), stages.map((s) => ({ name: s,
    values: windows.map((w) => t.windows[w][s]) })), windows, WINDOW_COLORS,
  "per stage and window, summed over the series");
  const phases = ordered(Object.keys(t.stages), PHASE_ORDER);
  barChart($("phases-chart"), phases.map((p) => ({ name: p, values: [t.stages[p]] })), ["run"],
    ["#475569"], "the run's phases (wall time)");
}

// ---- loading ------------------------------------------------------------------------------

async function settle(promise, errorId) {
  try {
    const value = await promise;
    showError(errorId, null);
    return value;
  } catch (err) {
    showError(errorId, err);
    return null;
  }
}

async function loadSeries() {
  if (!state.seriesId) return;
  const id = encodeURIComponent(state.seriesId);
  const [samples, forecast, sla] = await Promise.all([
    settle(getJSON(`/dashboard/api/samples?series_id=${id}&range=${state.range}`),
      "samples-error"),
    settle(getJSON(`/dashboard/api/forecast?series_id=${id}&window=${state.range}`),
      "forecast-error"),
    settle(getJSON(`/dashboard/api/sla?series_id=${id}`), "sla-error"),
  ]);
  const chosen = state.series.find((s) => s.series_id === state.seriesId);
  $("series-title").textContent = chosen ? seriesName(chosen) : state.seriesId;
  state.last = { samples, forecast, sla };
  const drawn = chosenSla(sla);
  state.slaId = drawn ? drawn.sla.id : state.slaId;
  drawSeriesChart();
  drawSla(sla);
  drawForecastInfo(forecast);
}

async function loadTimings() {
  state.timings = await settle(getJSON("/dashboard/api/timings"), "timings-error");
  drawTimings();
}

async function refresh() {
  document.body.dataset.state = "loading";
  const url = new URL(window.location.href);
  url.searchParams.set("series_id", state.seriesId || "");
  url.searchParams.set("range", state.range);
  if (state.slaId !== null) url.searchParams.set("sla", state.slaId);
  else url.searchParams.delete("sla");
  window.history.replaceState(null, "", url);
  await Promise.all([loadSeries(), loadTimings()]);
  $("updated").textContent = `updated ${formatTime(Date.now(), true)} UTC`;
  document.body.dataset.state = "ready";
}

function setUpTokenForm() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    window.sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    window.location.reload();
  });
}

async function init() {
  setUpTokenForm();
  const params = new URLSearchParams(window.location.search);
  state.range = ["1h", "3h"].includes(params.get("range")) ? params.get("range") : "1h";
  state.slaId = params.get("sla");
  $("range-select").value = state.range;
  const list = await settle(getJSON("/dashboard/api/series"), "page-error");
  const select = $("series-select");
  if (list) {
    state.series = list.series;
    for (const s of list.series) {
      const option = html("option", seriesName(s) + (s.forecast ? "" : "  (no forecast)"),
        select);
      option.value = s.series_id;
    }
    const wanted = params.get("series_id");
    state.seriesId = list.series.some((s) => s.series_id === wanted) ? wanted
      : list.default_series_id;
    select.value = state.seriesId || "";
    if (!list.series.length) showError("page-error", "No series stored yet: run the ETL.");
  }
  select.addEventListener("change", () => {
    state.seriesId = select.value;
    state.slaId = null; // another metric: its own SLAs
    refresh();
  });
  $("sla-select").addEventListener("change", (e) => {
    state.slaId = e.target.value;
    drawSeriesChart();
    drawSla(state.last && state.last.sla);
    const url = new URL(window.location.href);
    url.searchParams.set("sla", state.slaId);
    window.history.replaceState(null, "", url);
  });
  $("range-select").addEventListener("change", (e) => { state.range = e.target.value; refresh(); });
  $("refresh").addEventListener("click", refresh);
  window.addEventListener("resize", () => { drawSeriesChart(); drawTimings(); });
  await refresh();
  window.setInterval(refresh, REFRESH_MS);
}

init();
