"""The report's two charts as inline SVG (no script, no asset): the metric means as grouped bars,
and the per-query distribution of one metric as small multiples."""

from __future__ import annotations

from .runs import AXIS, GRID, Run, clip, esc, fmt

BINS = 10


def bar_chart(rs: list[Run], names: list[str], cid: str) -> str:
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
            f'<text x="{left + j * gw + gw / 2:.1f}" y="{top + ph + 18}" text-anchor="middle">{clip(m, gw // 7)}</text>'
        )
        for i, r in enumerate(rs):
            x, v, cx = gx + i * bw, r.metrics.get(m), gx + i * bw + bw / 2 - 1
            tip = f"<title>{esc(r.rid)} · {esc(m)}: {fmt(v, 4)}</title>"
            if v is None:
                out.append(
                    f'<rect class="unmeasured" data-run="{esc(r.rid)}" data-metric="{esc(m)}" x="{x:.1f}" '
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
                f'<rect class="bar" data-run="{esc(r.rid)}" data-metric="{esc(m)}" x="{x:.1f}" y="{y:.2f}" '
                f'width="{bw - 2}" height="{h:.2f}" fill="{r.colour}">{tip}</rect>{label}'
            )
    return "".join(out) + "</svg>"


def histogram(rs: list[Run], metric: str) -> str:
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
        f'aria-label="per-query {esc(metric)} per run" font-size="10" fill="#5b6570">'
    ]
    for k, (r, c) in enumerate(zip(rs, counts, strict=True)):
        x0, y0, x1 = (k % cols) * pw + left, (k // cols) * (top + ph + foot) + top, (k % cols) * pw + 4
        vals = [v[metric] for v in r.per_query.values() if metric in v]
        mean = sum(vals) / len(vals) if vals else 0.0
        out.append(
            f'<text x="{x1}" y="{y0 - 24}" font-size="11" fill="{r.colour}" font-weight="600">{clip(r.rid, 36)}'
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
