// The supervisor view: figures kept by the server from the event feed,
// pushed on every change; countdowns tick here on the server's clock.
"use strict";

(() => {
  const el = Desk.element;
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#2456c7", "#1f9e89", "#e07b39", "#8e44ad", "#c0392b", "#27ae60",
    "#d4a017", "#5d6d7e", "#e84393", "#00838f", "#6d4c41", "#7cb342"];
  const STATUS_COLOURS = { "Available": "#2e9d57", "Handling a chat": "#2456c7", "Wrap-up": "#e0a030",
    "Break": "#8e44ad", "Offline": "#9aa1ad" };
  let figures = null;
  const colours = new Map();

  function colourOf(label) {
    if (!colours.has(label)) colours.set(label, PALETTE[colours.size % PALETTE.length]);
    return colours.get(label);
  }

  function render(message) {
    if (message.type !== "supervisor") return;
    figures = message;
    document.getElementById("day").textContent = message.day;
    renderAgents(message.agents);
    renderToday(message.totals);
    renderTrends(message.trends);
    renderQueues(message.queues);
    renderFlags(message.abuse_flags);
    tick();
  }

  function renderAgents(agents) {
    const total = agents.list.length || 1;
    const bar = document.getElementById("status-bar");
    const legend = document.getElementById("status-legend");
    bar.replaceChildren();
    legend.replaceChildren();
    for (const group of agents.by_status) {
      const colour = STATUS_COLOURS[group.label] || "#b0763a";
      bar.append(el("div", { title: `${group.label}: ${group.agents}`,
        style: `width:${(100 * group.agents) / total}%;background:${colour}` }));
      legend.append(el("span", { style: `--swatch:${colour}`, "data-status": group.label },
        `${group.label}: ${group.agents}`));
    }
    if (!agents.by_status.length) legend.append(el("span", { class: "empty" }, "No agent seen yet."));
  }

  function renderToday(totals) {
    document.getElementById("wrap-up-time").textContent = Desk.clock(totals.wrap_up_seconds);
    document.getElementById("wrap-ups").textContent = totals.wrap_ups;
    document.getElementById("extensions").textContent = totals.extensions;
    document.getElementById("expiries").textContent = totals.expiries;
    document.getElementById("abuse-count").textContent = totals.abuse_flags;
  }

  function cell(text, number) {
    return el("td", number ? { class: "number", text } : { text });
  }

  function renderQueues(queues) {
    document.querySelector("#queues-table tbody").replaceChildren(...queues.map((q) => el("tr", { "data-queue": q.queue_id },
      cell(q.queue_id), cell(q.wrap_ups, true), cell(Desk.clock(q.wrap_up_seconds), true),
      cell(q.average_wrap_up_seconds === null ? "\u2014" : Desk.clock(q.average_wrap_up_seconds), true),
      cell(q.extensions, true), cell(q.expiries, true), cell(q.abuse_flags, true))));
  }

  function renderFlags(flags) {
    document.querySelector("#flags-table tbody").replaceChildren(...flags.map((f) => el("tr", {},
      cell(Desk.timeOfDay(f.at)), cell(f.agent_id), cell(f.chat_id), cell(f.queue_id), cell(f.reason || ""))));
    document.getElementById("no-flags").hidden = flags.length > 0;
  }

  // Wrap-ups in progress: the time left ticks on the server's clock.
  function tick() {
    if (!figures) return;
    const now = Desk.serverNow();
    const rows = figures.wrap_ups.map((w) => {
      let left = "no limit";
      if (w.paused) left = `${Desk.clock(w.seconds_left || 0)} paused`;
      else if (w.deadline) {
        const seconds = (Date.parse(w.deadline) - now) / 1000;
        left = seconds > 0 ? Desk.clock(seconds) : "due";
      }
      return el("tr", { "data-chat": w.chat_id }, cell(w.agent_id), cell(w.chat_id), cell(w.queue_id),
        cell(left, true), cell(w.extensions_left ?? "", true));
    });
    document.querySelector("#wrap-ups-table tbody").replaceChildren(...rows);
    document.getElementById("no-wrap-ups").hidden = rows.length > 0;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function minuteLabel(minute) {
    return `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
  }

  // A stacked bar per period of the day, a colour per classification.
  function renderTrends(trends) {
    const holder = document.getElementById("trend-chart");
    const legend = document.getElementById("trend-legend");
    legend.replaceChildren();
    if (!trends.starts.length) {
      holder.replaceChildren(el("p", { class: "empty" }, "No wrap-up finished today yet."));
      return;
    }
    const width = 900, height = 260, left = 40, bottom = 24, top = 8;
    const bars = trends.starts.length;
    const totals = trends.starts.map((_, i) => trends.series.reduce((sum, s) => sum + s.chats[i], 0));
    const most = Math.max(1, ...totals);
    const slot = (width - left) / bars;
    const scale = (height - bottom - top) / most;
    const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-label": "Wrap-ups per classification over the day", "data-bars": String(bars) });
    const defs = svg("defs", {});
    chart.append(defs);
    for (const tickValue of [0, Math.ceil(most / 2), most]) {
      const y = height - bottom - tickValue * scale;
      chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#e3e6ec" }));
      chart.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(tickValue)));
    }
    trends.series.forEach((series, index) => {
      const colour = series.timeout_default ? "#9aa1ad" : colourOf(series.label);
      let fill = colour;
      if (series.timeout_default) {
        const id = `hatch-${index}`;
        const pattern = svg("pattern", { id, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
        pattern.append(svg("rect", { width: 6, height: 6, fill: "#eceef2" }));
        pattern.append(svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: colour, "stroke-width": 3 }));
        defs.append(pattern);
        fill = `url(#${id})`;
      }
      const name = series.timeout_default ? `${series.label} (timeout default)` : series.label;
      const total = series.chats.reduce((a, b) => a + b, 0);
      legend.append(el("span", { style: `--swatch:${colour}`, "data-series": name }, `${name}: ${total}`));
      series.fill = fill;
      series.name = name;
    });
    const base = new Array(bars).fill(0);
    for (const series of trends.series) {
      series.chats.forEach((chats, i) => {
        if (!chats) return;
        const x = left + i * slot + slot * 0.12;
        const y = height - bottom - (base[i] + chats) * scale;
        const rect = svg("rect", { x, y, width: slot * 0.76, height: chats * scale, fill: series.fill });
        rect.append(svg("title", {}, `${minuteLabel(trends.starts[i])} ${series.name}: ${chats}`));
        chart.append(rect);
        base[i] += chats;
      });
    }
    const every = Math.ceil(bars / 12);
    trends.starts.forEach((start, i) => {
      if (i % every) return;
      chart.append(svg("text", { x: left + i * slot + slot / 2, y: height - 6, "text-anchor": "middle" }, minuteLabel(start)));
    });
    holder.replaceChildren(chart);
  }

  Desk.follow("api/supervisor/stream", render, document.getElementById("link"));
  setInterval(tick, 500);
})();
