// Evaluation runs (GET /v1/eval/runs, an admin key): a metric across runs, and one run's metrics
// with the spread of a metric over its queries.

import { api } from "./api.js";
import { barChart, columnChart, histogram } from "./chart.js";
import { errorBox, fmtNum, fmtTime, h, table } from "./dom.js";

export async function render(main, [runId], signal) {
  const body = h("div", { class: "loading" }, "Loading…");
  main.append(h("h1", {}, runId ? "Evaluation run" : "Evaluation runs"), body);
  try {
    if (runId) showRun(body, await api(`/v1/eval/runs/${encodeURIComponent(runId)}`, { signal }));
    else showRuns(body, (await api("/v1/eval/runs", { signal })).runs);
  } catch (err) {
    if (err.name !== "AbortError") body.replaceChildren(errorBox(err));
  }
  body.classList.remove("loading");
}

const metricNames = (objects) => [...new Set(objects.flatMap((m) => Object.keys(m || {})))];

/** A <select> of metric names that redraws `draw(metric)` into `slot` on change. */
function metricPicker(names, slot, draw, label) {
  const select = h("select", { class: "metric-select", "aria-label": label,
    onchange: () => slot.replaceChildren(draw(select.value)) },
  names.map((n) => h("option", { value: n }, n)));
  select.value = names.includes("ndcg@10") ? "ndcg@10" : names[0];
  slot.replaceChildren(draw(select.value));
  return h("label", { class: "picker" }, `${label} `, select);
}

function showRuns(body, runs) {
  if (!runs.length) {
    return body.replaceChildren(h("p", { class: "muted" }, "No evaluation runs yet. Make one with ",
      h("code", {}, "ragwright eval retrieval --data DIR"), "."));
  }
  const names = metricNames(runs.map((r) => r.metrics));
  const chart = h("div", { class: "chart-slot" });
  const picker = metricPicker(names, chart, (metric) => columnChart(runs.map((r, i) => ({
    label: `#${i + 1}`, value: r.metrics[metric],
    title: `${r.run_id} (${r.dataset}, ${r.pipeline}): ${fmtNum(r.metrics[metric])}` })),
  { title: `${metric} by run` }), "Metric");
  const shown = names.slice(0, 5);
  body.replaceChildren(h("div", { class: "card" }, picker, chart), table([
    { label: "#", cell: (r) => String(runs.indexOf(r) + 1), class: "num" },
    { label: "Run", cell: (r) => h("a", { href: `#eval/${encodeURIComponent(r.run_id)}` }, r.run_id) },
    { label: "Created", cell: (r) => fmtTime(r.created_at) },
    { label: "Kind", cell: (r) => r.kind },
    { label: "Dataset", cell: (r) => `${r.dataset} (${r.split})` },
    { label: "Pipeline", cell: (r) => r.pipeline },
    ...shown.map((m) => ({ label: m, cell: (r) => fmtNum(r.metrics[m]), class: "num" })),
  ], runs, (r) => ({ class: "run-row", dataset: { runId: r.run_id } })));
}

function showRun(body, run) {
  const metrics = Object.entries(run.metrics || {}).map(([label, value]) => ({ label, value }));
  const perQuery = run.per_query || {};
  const names = metricNames(Object.values(perQuery));
  const parts = [
    h("p", {}, h("a", { href: "#eval" }, "← All runs")),
    h("dl", { class: "meta" }, [["Run", run.run_id], ["Created", fmtTime(run.created_at)], ["Kind", run.kind],
      ["Dataset", `${run.dataset} (${run.split}, ${Object.keys(perQuery).length} queries)`],
      ["Pipeline", run.pipeline], ["Code", run.code_version], ["Seconds", fmtNum(run.seconds)]]
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "")])),
    h("h2", {}, "Metrics"),
    h("div", { class: "card" }, barChart(metrics, { title: `metrics of ${run.run_id}` })),
  ];
  if (names.length) {
    const chart = h("div", { class: "chart-slot" });
    const worst = h("div", {});
    const draw = (metric) => {
      const rows = Object.entries(perQuery).filter(([, m]) => Number.isFinite(m[metric]))
        .sort((a, b) => a[1][metric] - b[1][metric]).slice(0, 50);
      worst.replaceChildren(h("h2", {}, `Lowest ${metric} (up to 50 queries)`), table([
        { label: "Query", cell: ([q]) => (run.cases && run.cases[q] && run.cases[q].query) || q, class: "wide" },
        { label: metric, cell: ([, m]) => fmtNum(m[metric]), class: "num" },
      ], rows));
      return columnChart(histogram(Object.values(perQuery).map((m) => m[metric])),
        { title: `queries by ${metric}` });
    };
    parts.push(h("h2", {}, "Per query"), h("div", { class: "card" }, metricPicker(names, chart, draw, "Metric"), chart), worst);
  }
  body.replaceChildren(...parts);
}
