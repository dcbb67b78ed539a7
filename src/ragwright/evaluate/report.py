"""An evaluation report as one self-contained HTML page: the runs side by side, their metrics as
bars, the per-query distribution of the primary metric, and the worst queries with what they
retrieved or answered.

Offline by construction: inline CSS and inline SVG only, no script and no external asset (a CSP
meta tag forbids both, so a page that escaped badly still cannot run anything). Every string that
comes from data is escaped. The same runs render to the same string, so reports can be diffed.
"""

from __future__ import annotations

import json
from typing import Any

from ._report.cases import worst_cases
from ._report.charts import bar_chart, histogram
from ._report.runs import MAX_VALUE, Run, as_dict, clip, esc, fmt, normalize, num

PRIMARY = {"retrieval": ("ndcg@10",), "answers": ("faithfulness", "citation_recall", "correctness")}
KIND_TITLES = {"retrieval": "Retrieval", "answers": "Answers"}
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


def render_report(
    runs: list[dict[str, Any]],
    *,
    title: str = "ragwright evaluation report",
    worst: int = 10,
    generated_at: str | None = None,
) -> str:
    """The whole page. A run keeps its position's colour everywhere; sections follow the order in
    which kinds first appear. Nothing time-dependent is written unless `generated_at` is given."""
    rs = [normalize(r, i) for i, r in enumerate(runs)]
    kinds = list(dict.fromkeys(r.kind for r in rs))
    sub = f"{len(rs)} run{'s' * (len(rs) != 1)}" + (f" · generated {esc(generated_at)}" if generated_at else "")
    body = [f"<h1>{esc(title)}</h1>", f'<p class="muted">{sub}</p>']
    body.append(_runs_section(rs) if rs else '<p class="warn">No runs to report.</p>')
    for k, kind in enumerate(kinds):
        body.append(_kind_section([r for r in rs if r.kind == kind], kind, f"k{k}", max(0, worst)))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


# -- runs and settings ------------------------------------------------------------------------------


def _runs_section(rs: list[Run]) -> str:
    """Who is being compared, and whether the comparison is fair (same data, which settings differ)."""
    head = (
        "<tr><th>run</th><th>kind</th><th>dataset / split</th><th>pipeline</th><th>created</th><th>code</th>"
        "<th>queries</th><th>seconds</th><th>dataset hash</th></tr>"
    )
    rows = []
    for r in rs:
        g, n = r.raw.get, len(set(r.per_query) | set(r.cases))
        rows.append(
            f'<tr><td><code class="run" style="border-color:{r.colour}">{esc(r.rid)}</code></td>'
            f"<td>{esc(r.kind)}</td><td>{esc(g('dataset', ''))} / {esc(g('split', ''))}</td>"
            f"<td>{esc(g('pipeline', ''))}</td><td>{esc(g('created_at', ''))}</td>"
            f"<td><code>{esc(g('code_version', ''))}</code></td>"
            f'<td class="n">{n}</td><td class="n">{fmt(g("seconds"), 1, "")}</td>'
            f"<td><code>{esc(str(g('dataset_hash') or '')[:12])}</code></td></tr>"
        )
    out = [
        '<section id="runs"><h2>Runs</h2>',
        f'<div class="scroll"><table class="runs">{head}{"".join(rows)}</table></div>',
    ]
    hashes: dict[str, list[str]] = {}
    for r in rs:
        hashes.setdefault(str(r.raw.get("dataset_hash") or "(none)"), []).append(r.rid)
    if len(hashes) > 1:
        groups = "; ".join(f"<code>{esc(h[:12])}</code>: {esc(', '.join(ids))}" for h, ids in hashes.items())
        out.append(
            f'<p class="warn">⚠ These runs were measured on different data (dataset hashes differ: {groups}); '
            "their metrics are not directly comparable.</p>"
        )
    flat = [_flat(r.raw.get("config")) for r in rs]
    differ = sorted(k for k in set().union(*flat) if len({f.get(k) for f in flat}) > 1)
    if len(rs) > 1 and differ:
        cells = "".join(
            f"<tr><td><code>{esc(k)}</code></td>"
            + "".join(f"<td><code>{clip(f.get(k, '—'), MAX_VALUE)}</code></td>" for f in flat)
            + "</tr>"
            for k in differ[:60]
        )
        runs_head = "".join(f"<th>{esc(r.rid)}</th>" for r in rs)
        out.append(f"<h3>Settings that differ</h3><table><tr><th>setting</th>{runs_head}</tr>{cells}</table>")
    return "\n".join(out) + "</section>"


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as dotted keys -> JSON text, so two configs can be compared key by key."""
    if isinstance(value, dict) and value:
        return {k: v for key, sub in value.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix[:-1]: json.dumps(value, sort_keys=True, default=str)} if prefix else {}


# -- one kind: metrics, distribution, worst queries ----------------------------------------------------


def _kind_section(rs: list[Run], kind: str, sid: str, worst: int) -> str:
    names = list(
        dict.fromkeys(
            [m for r in rs for m in r.metrics] + sorted({m for r in rs for v in r.per_query.values() for m in v})
        )
    )
    out = [f'<section id="{sid}"><h2>{esc(KIND_TITLES.get(kind, kind.title()))} runs</h2><h3>Metrics</h3>']
    if not names:
        return out[0] + '<p class="muted">No metric recorded.</p></section>'
    primary = next((m for m in PRIMARY.get(kind, ()) if m in names), names[0])
    legend = "".join(f'<span style="border-color:{r.colour}">{esc(r.rid)}</span>' for r in rs)
    out += [
        bar_chart(rs, names, f"{sid}-bars"),
        f'<p class="legend">{legend}</p>',
        _metric_table(rs, names),
        _coverage(rs, names),
    ]
    out += [f"<h3>Per-query {esc(primary)}</h3>", histogram(rs, primary), f"<h3>Worst queries by {esc(primary)}</h3>"]
    out += [worst_cases(r, [o for o in rs if o is not r], names, primary, worst) for r in rs]
    return "\n".join(out) + "</section>"


def _metric_table(rs: list[Run], names: list[str]) -> str:
    """The same means as numbers, with the change against the first run of this kind."""
    head = "".join(f'<th><span class="run" style="border-color:{r.colour}">{esc(r.rid)}</span></th>' for r in rs)
    rows = []
    for m in names:
        base = rs[0].metrics.get(m)
        cells = "".join(
            f'<td class="n">{fmt(v, 4)}{_delta(v, base) if i else ""}</td>'
            for i, v in enumerate(r.metrics.get(m) for r in rs)
        )
        rows.append(f"<tr><td>{esc(m)}</td>{cells}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _delta(value: float | None, base: float | None) -> str:
    return f' <span class="d">({value - base:+.4f})</span>' if value is not None and base is not None else ""


def _coverage(rs: list[Run], names: list[str]) -> str:
    """How many queries each mean stands on, for the metrics some queries could not give."""
    rows = []
    for m in names:
        for r in rs:
            cov = r.coverage.get(m, {})
            if not cov.get("unmeasured") and r.metrics.get(m) is not None:
                continue
            reasons = sorted(as_dict(cov.get("reasons")).items(), key=lambda kv: (-(num(kv[1]) or 0), str(kv[0])))
            why = "; ".join(f"{esc(k)}: {esc(c)}" for k, c in reasons) or ("no coverage recorded" if not cov else "")
            rows.append(
                f'<tr><td>{esc(m)}</td><td>{esc(r.rid)}</td><td class="n">{esc(cov.get("measured", "?"))}</td>'
                f'<td class="n">{esc(cov.get("unmeasured", "?"))}</td><td>{why}</td></tr>'
            )
    if not rows:
        return '<p class="muted">Every metric was measured on every query.</p>'
    return (
        "<h4>Coverage</h4><table><tr><th>metric</th><th>run</th><th>measured</th><th>unmeasured</th><th>why</th>"
        f"</tr>{''.join(rows)}</table>"
    )
