"""An evaluation report as one self-contained HTML page: the runs side by side, their metrics as
bars, the per-query distribution of the primary metric, and the worst queries with what they
retrieved or answered.

Offline by construction: inline CSS and inline SVG only, no script and no external asset (a CSP
meta tag forbids both, so a page that escaped badly still cannot run anything). Every string that
comes from data is escaped. The same runs render to the same string, so reports can be diffed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from html import escape
from typing import Any

# Okabe-Ito, then Tol: distinguishable with colour-blindness, and dark enough to survive greyscale print.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#555555",
    "#882255",
    "#117733",
    "#8C564B",
    "#332288",
)
PRIMARY = {"retrieval": ("ndcg@10",), "answers": ("faithfulness", "citation_recall", "correctness")}
KIND_TITLES = {"retrieval": "Retrieval", "answers": "Answers"}
MAX_QUERY, MAX_ANSWER, MAX_GOLD, MAX_TITLE, MAX_VALUE = 600, 1500, 800, 120, 80
BINS = 10
GRID, AXIS = "#e3e6e9", "#888"
CSS = """
*{box-sizing:border-box}.q,blockquote{overflow-wrap:anywhere}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;background:#fff;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;border-bottom:2px solid #1b1f24}
h3{font-size:15px;margin:22px 0 6px}h4{font-size:14px;margin:18px 0 6px}h5{font-size:13px;margin:0 0 4px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border-bottom:1px solid #d7dce1;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.muted,.d{color:#5b6570}.d{font-size:11px}.runs td{white-space:nowrap}.scroll{overflow-x:auto}
.warn{border-left:4px solid #D55E00;background:#fff4ec;padding:6px 10px}.run{border-left:8px solid;padding-left:6px}
.legend span{margin-right:16px;border-left:12px solid;padding-left:5px;white-space:nowrap}
svg{max-width:100%;height:auto;display:block;margin:6px 0;font-family:inherit}
.case{border:1px solid #d7dce1;border-radius:6px;padding:8px 12px;margin:10px 0;break-inside:avoid}
.q{font-weight:600;margin:2px 0 6px}.rel{color:#00734f;font-weight:600}
.bad{color:#b34700;font-weight:600}
blockquote{margin:6px 0;padding:6px 10px;background:#f3f5f7;border-left:3px solid #d7dce1;white-space:pre-wrap}
@media print{main{max-width:none;padding:0}h2,h3,h4{break-after:avoid}}
"""


@dataclass(frozen=True, slots=True)
class _Run:
    """A run dict made safe to read: missing keys defaulted, NaN and non-numbers dropped."""

    raw: dict[str, Any]
    rid: str
    kind: str
    colour: str
    metrics: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    cases: dict[str, dict[str, Any]]
    coverage: dict[str, dict[str, Any]]


def render_report(
    runs: list[dict[str, Any]],
    *,
    title: str = "ragwright evaluation report",
    worst: int = 10,
    generated_at: str | None = None,
) -> str:
    """The whole page. A run keeps its position's colour everywhere; sections follow the order in
    which kinds first appear. Nothing time-dependent is written unless `generated_at` is given."""
    rs = [_normalize(r, i) for i, r in enumerate(runs)]
    kinds = list(dict.fromkeys(r.kind for r in rs))
    sub = f"{len(rs)} run{'s' * (len(rs) != 1)}" + (f" · generated {_e(generated_at)}" if generated_at else "")
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{sub}</p>']
    body.append(_runs_section(rs) if rs else '<p class="warn">No runs to report.</p>')
    for k, kind in enumerate(kinds):
        body.append(_kind_section([r for r in rs if r.kind == kind], kind, f"k{k}", max(0, worst)))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


# -- runs and settings ------------------------------------------------------------------------------


def _runs_section(rs: list[_Run]) -> str:
    """Who is being compared, and whether the comparison is fair (same data, which settings differ)."""
    head = (
        "<tr><th>run</th><th>kind</th><th>dataset / split</th><th>pipeline</th><th>created</th><th>code</th>"
        "<th>queries</th><th>seconds</th><th>dataset hash</th></tr>"
    )
    rows = []
    for r in rs:
        g, n = r.raw.get, len(set(r.per_query) | set(r.cases))
        rows.append(
            f'<tr><td><code class="run" style="border-color:{r.colour}">{_e(r.rid)}</code></td>'
            f"<td>{_e(r.kind)}</td><td>{_e(g('dataset', ''))} / {_e(g('split', ''))}</td>"
            f"<td>{_e(g('pipeline', ''))}</td><td>{_e(g('created_at', ''))}</td>"
            f"<td><code>{_e(g('code_version', ''))}</code></td>"
            f'<td class="n">{n}</td><td class="n">{_fmt(g("seconds"), 1, "")}</td>'
            f"<td><code>{_e(str(g('dataset_hash') or '')[:12])}</code></td></tr>"
        )
    out = [
        '<section id="runs"><h2>Runs</h2>',
        f'<div class="scroll"><table class="runs">{head}{"".join(rows)}</table></div>',
    ]
    hashes: dict[str, list[str]] = {}
    for r in rs:
        hashes.setdefault(str(r.raw.get("dataset_hash") or "(none)"), []).append(r.rid)
    if len(hashes) > 1:
        groups = "; ".join(f"<code>{_e(h[:12])}</code>: {_e(', '.join(ids))}" for h, ids in hashes.items())
        out.append(
            f'<p class="warn">⚠ These runs were measured on different data (dataset hashes differ: {groups}); '
            "their metrics are not directly comparable.</p>"
        )
    flat = [_flat(r.raw.get("config")) for r in rs]
    differ = sorted(k for k in set().union(*flat) if len({f.get(k) for f in flat}) > 1)
    if len(rs) > 1 and differ:
        cells = "".join(
            f"<tr><td><code>{_e(k)}</code></td>"
            + "".join(f"<td><code>{_clip(f.get(k, '—'), MAX_VALUE)}</code></td>" for f in flat)
            + "</tr>"
            for k in differ[:60]
        )
        runs_head = "".join(f"<th>{_e(r.rid)}</th>" for r in rs)
        out.append(f"<h3>Settings that differ</h3><table><tr><th>setting</th>{runs_head}</tr>{cells}</table>")
    return "\n".join(out) + "</section>"


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as dotted keys -> JSON text, so two configs can be compared key by key."""
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: json.dumps(value, sort_keys=True, default=str)} if prefix else {}


# -- one kind: metrics, distribution, worst queries ----------------------------------------------------


def _kind_section(rs: list[_Run], kind: str, sid: str, worst: int) -> str:
    names = list(
        dict.fromkeys(
            [m for r in rs for m in r.metrics] + sorted({m for r in rs for v in r.per_query.values() for m in v})
        )
    )
    out = [f'<section id="{sid}"><h2>{_e(KIND_TITLES.get(kind, kind.title()))} runs</h2><h3>Metrics</h3>']
    if not names:
        return out[0] + '<p class="muted">No metric recorded.</p></section>'
    primary = next((m for m in PRIMARY.get(kind, ()) if m in names), names[0])
    legend = "".join(f'<span style="border-color:{r.colour}">{_e(r.rid)}</span>' for r in rs)
    out += [
        _bar_chart(rs, names, f"{sid}-bars"),
        f'<p class="legend">{legend}</p>',
        _metric_table(rs, names),
        _coverage(rs, names),
    ]
    out += [f"<h3>Per-query {_e(primary)}</h3>", _histogram(rs, primary), f"<h3>Worst queries by {_e(primary)}</h3>"]
    out += [_worst(r, [o for o in rs if o is not r], names, primary, worst) for r in rs]
    return "\n".join(out) + "</section>"


def _bar_chart(rs: list[_Run], names: list[str], cid: str) -> str:
    """Grouped bars, one group per metric. A None mean is a hatched full-height box labelled
    'unmeasured', so a metric that could not be measured never reads as 0."""
    n = len(rs)
    bw = 30 if n <= 3 else max(8, 100 // n)
    gw = max(n * bw + 24, 132)
    left, top, ph = 44, 40, 200
    width, height = left + gw * len(names) + 10, top + ph + 34
    ymax = max([1.0, *(v for r in rs for m in names if (v := r.metrics.get(m)) is not None)])
    out = [
        f'<svg class="chart bars" id="{cid}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="metric means per run" font-size="11"><defs><pattern id="{cid}-hatch" width="6" '
        'height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" '
        'stroke="#9aa3ab" stroke-width="2"/></pattern></defs>'
    ]
    for t in (0, 0.25, 0.5, 0.75, 1):
        y = top + ph - t * ph
        out.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID if t else AXIS}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6570">{t * ymax:.2f}</text>'
        )
    for j, m in enumerate(names):
        gx = left + j * gw + (gw - n * bw) / 2
        out.append(
            f'<text x="{left + j * gw + gw / 2:.1f}" y="{top + ph + 18}" text-anchor="middle">'
            f"{_clip(m, gw // 7)}</text>"
        )
        for i, r in enumerate(rs):
            x, v, cx = gx + i * bw, r.metrics.get(m), gx + i * bw + bw / 2 - 1
            tip = f"<title>{_e(r.rid)} · {_e(m)}: {_fmt(v, 4)}</title>"
            if v is None:
                out.append(
                    f'<rect class="unmeasured" data-run="{_e(r.rid)}" data-metric="{_e(m)}" x="{x:.1f}" '
                    f'y="{top}" width="{bw - 2}" height="{ph}" fill="url(#{cid}-hatch)" stroke="{r.colour}" '
                    f'stroke-dasharray="3 2">{tip}</rect><text x="{cx:.1f}" y="{top + ph / 2}" font-size="9" '
                    f'text-anchor="middle" transform="rotate(-90 {cx:.1f} {top + ph / 2})" dy="3" '
                    'fill="#5b6570">unmeasured</text>'
                )
                continue
            h = max(0.0, v) / ymax * ph
            y = top + ph - h
            label = (
                f'<text x="{cx:.1f}" y="{y - 3:.1f}" font-size="9" text-anchor="middle">{v:.3f}</text>'
                if bw >= 30
                else f'<text x="{cx:.1f}" y="{y - 3:.1f}" font-size="9" dy="3" '
                f'transform="rotate(-90 {cx:.1f} {y - 3:.1f})">{v:.3f}</text>'
            )
            out.append(
                f'<rect class="bar" data-run="{_e(r.rid)}" data-metric="{_e(m)}" x="{x:.1f}" y="{y:.2f}" '
                f'width="{bw - 2}" height="{h:.2f}" fill="{r.colour}">{tip}</rect>{label}'
            )
    return "".join(out) + "</svg>"


def _metric_table(rs: list[_Run], names: list[str]) -> str:
    """The same means as numbers, with the change against the first run of this kind."""
    head = "".join(f'<th><span class="run" style="border-color:{r.colour}">{_e(r.rid)}</span></th>' for r in rs)
    rows = []
    for m in names:
        base = rs[0].metrics.get(m)
        cells = "".join(
            f'<td class="n">{_fmt(v, 4)}{_delta(v, base) if i else ""}</td>'
            for i, v in enumerate(r.metrics.get(m) for r in rs)
        )
        rows.append(f"<tr><td>{_e(m)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _delta(value: float | None, base: float | None) -> str:
    return f' <span class="d">({value - base:+.4f})</span>' if value is not None and base is not None else ""


def _coverage(rs: list[_Run], names: list[str]) -> str:
    """How many queries each mean stands on, for the metrics some queries could not give."""
    rows = []
    for m in names:
        for r in rs:
            cov = r.coverage.get(m, {})
            if not cov.get("unmeasured") and r.metrics.get(m) is not None:
                continue
            reasons = sorted(_dict(cov.get("reasons")).items(), key=lambda kv: (-(_num(kv[1]) or 0), str(kv[0])))
            why = "; ".join(f"{_e(k)}: {_e(c)}" for k, c in reasons) or ("no coverage recorded" if not cov else "")
            rows.append(
                f'<tr><td>{_e(m)}</td><td>{_e(r.rid)}</td><td class="n">{_e(cov.get("measured", "?"))}</td>'
                f'<td class="n">{_e(cov.get("unmeasured", "?"))}</td><td>{why}</td></tr>'
            )
    if not rows:
        return '<p class="muted">Every metric was measured on every query.</p>'
    return (
        "<h4>Coverage</h4><table><tr><th>metric</th><th>run</th><th>measured</th><th>unmeasured</th><th>why</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _histogram(rs: list[_Run], metric: str) -> str:
    """Small multiples, one panel per run, sharing both axes so the shapes compare at a glance.
    Values are clamped to [0, 1]; the last bin holds 1.0. The dashed line is the mean."""
    counts = [[0] * BINS for _ in rs]
    for c, r in zip(counts, rs, strict=True):
        for v in r.per_query.values():
            if metric in v:
                c[min(BINS - 1, max(0, int(v[metric] * BINS)))] += 1
    ymax, cols = max([1, *(max(c) for c in counts)]), min(len(rs), 4)
    pw, ph, bw, left, top, foot = 260, 90, 20, 34, 40, 24
    width, height = cols * pw, -(-len(rs) // cols) * (top + ph + foot)
    out = [
        f'<svg class="chart hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="per-query {_e(metric)} per run" font-size="10" fill="#5b6570">'
    ]
    for k, (r, c) in enumerate(zip(rs, counts, strict=True)):
        x0, y0, x1 = (k % cols) * pw + left, (k // cols) * (top + ph + foot) + top, (k % cols) * pw + 4
        vals = [v[metric] for v in r.per_query.values() if metric in v]
        mean = sum(vals) / len(vals) if vals else 0.0
        out.append(
            f'<text x="{x1}" y="{y0 - 24}" font-size="11" fill="{r.colour}" font-weight="600">{_clip(r.rid, 36)}'
            f'</text><text x="{x1}" y="{y0 - 11}">n={len(vals)}'
            + (f", mean {mean:.3f}" if vals else "")
            + f'</text><line x1="{x0}" x2="{x0 + BINS * bw}" y1="{y0}" y2="{y0}" stroke="{GRID}"/>'
            f'<line x1="{x0}" x2="{x0 + BINS * bw}" y1="{y0 + ph}" y2="{y0 + ph}" stroke="{AXIS}"/>'
            f'<text x="{x0 - 4}" y="{y0 + 4}" text-anchor="end">{ymax}</text>'
            f'<text x="{x0 - 4}" y="{y0 + ph}" text-anchor="end">0</text>'
        )
        out += [
            f'<text x="{x0 + t * BINS * bw:.0f}" y="{y0 + ph + 13}" text-anchor="middle">{t:g}</text>'
            for t in (0, 0.5, 1)
        ]
        if not vals:
            out.append(f'<text x="{x0 + 100}" y="{y0 + ph / 2}" text-anchor="middle">no per-query values</text>')
            continue
        for b, count in enumerate(c):
            h = count / ymax * ph
            out.append(
                f'<rect class="hbin" data-count="{count}" x="{x0 + b * bw + 1}" y="{y0 + ph - h:.2f}" '
                f'width="{bw - 2}" height="{h:.2f}" fill="{r.colour}">'
                f"<title>{b / BINS:.1f}&ndash;{(b + 1) / BINS:.1f}: {count}</title></rect>"
            )
        mx = x0 + min(1.0, max(0.0, mean)) * BINS * bw
        out.append(
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y0}" y2="{y0 + ph}" stroke="#1b1f24" '
            f'stroke-dasharray="3 2"><title>mean {mean:.3f}</title></line>'
        )
    return "".join(out) + "</svg>"


def _worst(r: _Run, others: list[_Run], names: list[str], primary: str, worst: int) -> str:
    """The lowest-scoring queries, ties broken by query id so the selection is stable."""
    scored = sorted((v[primary], q) for q, v in r.per_query.items() if primary in v)
    unranked = len(set(r.per_query) | set(r.cases)) - len(scored)
    note = f"The {min(worst, len(scored))} lowest of {len(scored)} queries with {_e(primary)} (ties by query id)"
    note += f"; {unranked} without {_e(primary)} are not ranked." if unranked else "."
    cases = [_case(r, q, i, names, primary, others) for i, (_, q) in enumerate(scored[:worst], 1)]
    return f'<h4 class="run" style="border-color:{r.colour}">{_e(r.rid)}</h4><p class="muted">{note}</p>' + "".join(
        cases
    )


def _case(r: _Run, qid: str, rank: int, names: list[str], primary: str, others: list[_Run]) -> str:
    """One query: what it scored, what it saw, and what it should have seen."""
    case, vals = r.cases.get(qid, {}), r.per_query.get(qid, {})
    why = {str(k): v for k, v in _dict(case.get("unmeasured")).items()}
    rel = {str(d): g for d, g in _dict(case.get("relevant")).items() if (_num(g) or 0) > 0}
    out = [f'<div class="case"><h5>#{rank} <code>{_e(qid)}</code> · {_e(primary)} {_fmt(vals.get(primary))}</h5>']
    out.append(
        f'<p class="q">{_clip(case["query"], MAX_QUERY)}</p>'
        if "query" in case
        else '<p class="muted">No case recorded for this query.</p>'
    )
    scores = " · ".join(f"{_e(m)} {_fmt(vals.get(m))}" for m in names)
    elsewhere = " · ".join(f"{_e(o.rid)} {_fmt(o.per_query[qid].get(primary))}" for o in others if qid in o.per_query)
    out.append(
        f'<p class="muted">{scores}'
        + (f"<br>{_e(primary)} in the other runs: {elsewhere}" if elsewhere else "")
        + "</p>"
    )
    if "retrieved" in case:
        docs = [d for d in case.get("retrieved") or [] if isinstance(d, dict)]
        rows = "".join(
            f'<tr><td class="n">{i}</td><td><code>{_e(d.get("doc_id", ""))}</code></td>'
            f'<td>{_clip(d.get("title"), MAX_TITLE)}</td><td class="n">{_fmt(d.get("score"), 4, "")}</td>'
            f"<td>{_mark(str(d.get('doc_id', '')), rel)}</td></tr>"
            for i, d in enumerate(docs, 1)
        )
        out.append(
            f"<table><tr><th>#</th><th>retrieved</th><th>title</th><th>score</th><th>relevant</th></tr>{rows}</table>"
            if docs
            else '<p class="bad">Nothing was retrieved.</p>'
        )
        out.append(_missed(rel, {str(d.get("doc_id", "")) for d in docs}, f"Relevant, not in the top {len(docs)}"))
    if "answer" in case or "cited" in case:
        flag = ' <span class="bad">abstained</span>' if case.get("abstained") else ""
        out.append(
            f"<div>Answer{flag}:<blockquote>{_clip(case.get('answer'), MAX_ANSWER) or '<i>(empty)</i>'}"
            "</blockquote></div>"
        )
        cited = [str(d) for d in case.get("cited") or []]
        shown = ", ".join(f"<code>{_e(d)}</code> {_mark(d, rel)}" for d in cited)
        out.append(f"<p>Cited: {shown or 'nothing'}</p>")
        out.append(_missed(rel, set(cited), "Relevant, not cited"))
    for key in ("gold", "verdict"):
        if case.get(key) not in (None, ""):
            out.append(f"<p>{key.title()}: {_clip(case[key], MAX_GOLD)}</p>")
    if why:
        out.append(
            "<p>Unmeasured: "
            + "; ".join(f"{_e(m)}: {_clip(v, MAX_VALUE * 2)}" for m, v in sorted(why.items()))
            + "</p>"
        )
    return "".join(out) + "</div>"


def _mark(doc: str, rel: dict[str, Any]) -> str:
    return f'<span class="rel">✓ grade {_e(rel[doc])}</span>' if doc in rel else '<span class="muted">&ndash;</span>'


def _missed(rel: dict[str, Any], seen: set[str], label: str) -> str:
    """Relevant documents the case never showed; capped, since some qrels list hundreds."""
    missed = [d for d in rel if d not in seen]
    more = f" and {len(missed) - 20} more" if len(missed) > 20 else ""
    shown = ", ".join(f"<code>{_e(d)}</code> (grade {_e(rel[d])})" for d in missed[:20])
    return f'<p><span class="bad">{_e(label)}:</span> {shown}{more}</p>' if missed else ""


# -- small helpers ---------------------------------------------------------------------------------


def _normalize(run: Any, i: int) -> _Run:
    raw = _dict(run)
    per_query = {
        str(q): {str(m): f for m, v in _dict(vals).items() if (f := _num(v)) is not None}
        for q, vals in _dict(raw.get("per_query")).items()
    }
    return _Run(
        raw=raw,
        rid=str(raw.get("run_id") or f"run {i + 1}"),
        kind=str(raw.get("kind") or "unknown"),
        colour=PALETTE[i % len(PALETTE)],
        metrics={str(m): _num(v) for m, v in _dict(raw.get("metrics")).items()},
        per_query=per_query,
        cases={str(q): _dict(c) for q, c in _dict(raw.get("cases")).items()},
        coverage={str(m): _dict(c) for m, c in _dict(raw.get("coverage")).items()},
    )


def _dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    """A finite float, or None: NaN, infinities and non-numbers all mean 'not measured'."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _fmt(value: Any, digits: int = 3, none: str = "unmeasured") -> str:
    v = _num(value)
    return f"{v:.{digits}f}" if v is not None else (f"<i>{none}</i>" if none else "")


def _clip(value: Any, limit: int) -> str:
    """Escaped text, cut at `limit` characters so one huge answer cannot bloat the page."""
    text = "" if value is None else str(value)
    return _e(text[:limit] + "…") if len(text) > limit else _e(text)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)
