// Two small inline-SVG charts, drawn from numbers (labels are SVG text nodes, never markup).

import { svg } from "./dom.js";

const scaleMax = (values) => Math.max(1, ...values.filter(Number.isFinite)); // metrics in [0, 1] keep that scale
const trim = (s) => (s.includes(".") ? s.replace(/\.?0+$/, "") : s);
const fmt = (v) => (!Number.isFinite(v) ? "–" : trim(v.toFixed(Math.abs(v) >= 100 ? 0 : 3)));

/** Horizontal bars, one per item: [{label, value}]. */
export function barChart(items, { title = "" } = {}) {
  const max = scaleMax(items.map((i) => i.value));
  const labelW = 150, barW = 320, rowH = 26, width = labelW + barW + 70, height = items.length * rowH + 10;
  return svg("svg", { class: "chart bars", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": title },
  svg("title", {}, title),
  items.map((item, i) => {
    const y = 5 + i * rowH;
    const w = Number.isFinite(item.value) ? Math.max(1, (item.value / max) * barW) : 0;
    return svg("g", { class: "bar-row", "data-label": item.label },
      svg("text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "label" }, item.label),
      svg("rect", { x: labelW, y: y + 4, width: barW, height: rowH - 8, class: "track" }),
      svg("rect", { x: labelW, y: y + 4, width: w, height: rowH - 8, class: "value" },
        svg("title", {}, `${item.label}: ${fmt(item.value)}`)),
      svg("text", { x: labelW + barW + 8, y: y + 17, class: "number" }, fmt(item.value)));
  }));
}

/** Vertical columns over a y axis from 0 to max(1, largest value): [{label, value, title}]. */
export function columnChart(items, { title = "" } = {}) {
  const max = scaleMax(items.map((i) => i.value));
  const left = 44, top = 16, plotH = 160, colW = 44, gap = 14;
  const width = Math.max(320, left + items.length * (colW + gap) + gap), height = top + plotH + 40;
  const y = (v) => top + plotH - (v / max) * plotH;
  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) => svg("g", { class: "grid" },
    svg("line", { x1: left, x2: width, y1: y(f * max), y2: y(f * max) }),
    svg("text", { x: left - 6, y: y(f * max) + 4, "text-anchor": "end", class: "axis" }, fmt(f * max))));
  const columns = items.map((item, i) => {
    const x = left + gap + i * (colW + gap);
    const v = Number.isFinite(item.value) ? item.value : 0;
    return svg("g", { class: "column", "data-label": item.label },
      svg("rect", { x, y: y(v), width: colW, height: Math.max(1, top + plotH - y(v)), class: "value" },
        svg("title", {}, item.title || `${item.label}: ${fmt(item.value)}`)),
      svg("text", { x: x + colW / 2, y: y(v) - 4, "text-anchor": "middle", class: "number" }, fmt(item.value)),
      svg("text", { x: x + colW / 2, y: top + plotH + 16, "text-anchor": "middle", class: "label" }, item.label));
  });
  return svg("svg", { class: "chart columns", viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "aria-label": title }, svg("title", {}, title), grid, columns);
}

/** Counts of values in `bins` equal bins over [0, max(1, largest)]: items for columnChart. */
export function histogram(values, bins = 10) {
  const max = scaleMax(values);
  const counts = new Array(bins).fill(0);
  for (const v of values.filter(Number.isFinite)) counts[Math.min(bins - 1, Math.floor((v / max) * bins))]++;
  return counts.map((n, i) => ({ label: fmt((i * max) / bins), value: n,
    title: `${n} queries from ${fmt((i * max) / bins)} to ${fmt(((i + 1) * max) / bins)}` }));
}
