// The connectors' figures (/api/v1/operators/connectors, for operators and admins): a
// table of totals, and charts of messages/s, ACK codes/s and ACK latency over the last
// minutes, drawn with uPlot when `make setup` has installed it.

import { api } from "./api.js";
import { $, clear, el, refuse, say } from "./dom.js";
import { pollEvery } from "./poll.js";

const CODES = ["AA", "AE", "AR", "CA", "CE", "CR"];
const PALETTE = ["#1f5fbf", "#1e7a46", "#b3261e", "#a86200", "#6b3fa0", "#00838f", "#5d6878"];
const CODE_COLORS = { AA: "#1e7a46", CA: "#2e9d5b", AE: "#a86200", CE: "#d08a1c", AR: "#b3261e", CR: "#e0574f" };
const MINUTES = 15;

export function chartsAvailable() {
  return typeof window.uPlot === "function";
}

export function startFigures() {
  const section = $("#connectors");
  const table = $("#connector-figures");
  const body = clear($("#connector-figures tbody"));
  const source = $("#figures-source");
  const note = $("#charts-note");
  const chartsBox = $("#connectors .charts");
  const stop = new AbortController();
  const charts = new Map(); // element id -> { plot, names }
  let timer = null;

  refuse(section, "");
  table.hidden = false;
  const drawing = chartsAvailable();
  chartsBox.hidden = !drawing;
  note.hidden = drawing;
  say(
    note,
    drawing
      ? ""
      : "Charts are unavailable: the charting library (uPlot) is not installed beside this " +
          "web front door (make setup fetches it). The figures below are read all the same.",
  );

  const draw = (id, names, colors, times, columns, unit) => {
    const box = $(`#${id}`);
    const key = names.join("\u0000");
    const data = [times, ...columns];
    let chart = charts.get(id);
    if (chart && chart.key !== key) {
      chart.plot.destroy();
      chart = null;
    }
    if (!chart) {
      clear(box);
      const plot = new window.uPlot(
        {
          width: Math.max(240, box.clientWidth),
          height: 180,
          scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max * 1.1, unit === "ms" ? 1 : 0.5)] } },
          axes: [{}, { size: 50 }],
          series: [{}, ...names.map((name, i) => ({ label: name, stroke: colors[i], width: 1.5, spanGaps: false }))],
          legend: { live: false },
        },
        data,
        box,
      );
      chart = { plot, key };
      charts.set(id, chart);
    } else {
      chart.plot.setData(data);
    }
  };

  const resize = () => {
    for (const [id, chart] of charts) {
      chart.plot.setSize({ width: Math.max(240, $(`#${id}`).clientWidth), height: 180 });
    }
  };
  window.addEventListener("resize", resize);

  const chartsOf = (connectors) => {
    const times = [...new Set(connectors.flatMap((c) => c.series.map((p) => p.t)))].sort((a, b) => a - b);
    const column = (points, value) => {
      const at = new Map(points.map((p) => [p.t, value(p)]));
      return times.map((t) => (at.has(t) ? at.get(t) : null));
    };
    const names = connectors.map((c) => c.connector);
    const colors = names.map((_n, i) => PALETTE[i % PALETTE.length]);
    draw("chart-rate", names, colors, times, connectors.map((c) => column(c.series, (p) => p.messages_per_s)), "/s");
    draw("chart-latency", names, colors, times, connectors.map((c) => column(c.series, (p) => p.ack_latency_ms)), "ms");
    // ACK codes, over every connector: AA always, the others once they occurred.
    const codes = CODES.filter(
      (code) => code === "AA" || connectors.some((c) => c.series.some((p) => (p.acks_per_s[code] || 0) > 0) || (c.acks[code] || 0) > 0),
    );
    const sums = codes.map((code) =>
      times.map((t) => {
        let total = null;
        for (const c of connectors) {
          const point = c.series.find((p) => p.t === t);
          if (point) total = (total || 0) + (point.acks_per_s[code] || 0);
        }
        return total;
      }),
    );
    draw("chart-acks", codes, codes.map((code) => CODE_COLORS[code]), times, sums, "/s");
  };

  const row = (c) => {
    const number = (value, attributes) => el("td", { class: "number", ...attributes, text: value });
    const latency = c.ack_latency_ms === null ? "—" : `${c.ack_latency_ms.toFixed(1)} ms`;
    const kafka = c.kafka_reachable === null ? "—" : c.kafka_reachable ? "reachable" : "unreachable";
    const dead = Object.entries(c.rejected).map(([code, n]) => `${code} ${n}`).join(", ");
    return el(
      "tr",
      { data: { connector: c.connector } },
      el("td", { text: c.connector }),
      number(c.messages, { "data-figure": "messages" }),
      CODES.map((code) => number(c.acks[code] ?? 0, { "data-ack": code })),
      number(c.dead_letters, { "data-figure": "dead-letters", title: dead || null }),
      number(c.events, { "data-figure": "events" }),
      number(c.connections, { "data-figure": "connections" }),
      number(latency, { "data-figure": "ack-latency" }),
      el("td", { class: c.kafka_reachable === false ? "severity-CRITICAL" : "", text: kafka }),
    );
  };

  const step = async (round) => {
    const answer = await api(`/api/v1/operators/connectors?minutes=${MINUTES}`, { signal: round.signal });
    round.every = Math.max(1000, answer.interval_s * 1000);
    clear(body);
    for (const c of answer.connectors) body.append(row(c));
    say(
      source,
      answer.sources
        .map((s) =>
          s.reachable === false
            ? `${s.url}: not readable (${s.error})`
            : s.reachable === null
              ? `${s.url}: not read yet`
              : `${s.url}: read every ${answer.interval_s} s`,
        )
        .join(" · ") || "No connector's metrics are configured (HL7BUS_WEB_MLLP_METRICS_URL).",
    );
    if (drawing) chartsOf(answer.connectors);
  };

  const stopPolling = pollEvery(step, { every: 5000, source, refused: refuseFigures });
  return () => {
    stopPolling();
    window.removeEventListener("resize", resize);
    for (const chart of charts.values()) chart.plot.destroy();
    charts.clear();
  };
}

export function refuseFigures(sentence) {
  refuse($("#connectors"), sentence);
  clear($("#connector-figures tbody"));
  $("#connector-figures").hidden = true;
  $("#connectors .charts").hidden = true;
  $("#charts-note").hidden = true;
  say($("#figures-source"), "");
}
