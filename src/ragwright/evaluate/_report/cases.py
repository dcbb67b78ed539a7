"""The report's worst queries: per run, the lowest-scoring queries with what each retrieved or
answered, what it should have shown, and how the other runs scored it."""

from __future__ import annotations

from typing import Any

from .runs import MAX_ANSWER, MAX_GOLD, MAX_QUERY, MAX_TITLE, MAX_VALUE, Run, as_dict, clip, esc, fmt, num


def worst_cases(r: Run, others: list[Run], names: list[str], primary: str, worst: int) -> str:
    """The lowest-scoring queries, ties broken by query id so the selection is stable."""
    scored = sorted((v[primary], q) for q, v in r.per_query.items() if primary in v)
    unranked = len(set(r.per_query) | set(r.cases)) - len(scored)
    note = f"The {min(worst, len(scored))} lowest of {len(scored)} queries with {esc(primary)} (ties by query id)"
    note += f"; {unranked} without {esc(primary)} are not ranked." if unranked else "."
    cases = [_case(r, q, i, names, primary, others) for i, (_, q) in enumerate(scored[:worst], 1)]
    return f'<h4 class="run" style="border-color:{r.colour}">{esc(r.rid)}</h4><p class="muted">{note}</p>' + "".join(
        cases
    )


def _case(r: Run, qid: str, rank: int, names: list[str], primary: str, others: list[Run]) -> str:
    """One query: what it scored, what it saw, and what it should have seen."""
    case, vals = r.cases.get(qid, {}), r.per_query.get(qid, {})
    why = {str(k): v for k, v in as_dict(case.get("unmeasured")).items()}
    rel = {str(d): g for d, g in as_dict(case.get("relevant")).items() if (num(g) or 0) > 0}
    out = [f'<div class="case"><h5>#{rank} <code>{esc(qid)}</code> · {esc(primary)} {fmt(vals.get(primary))}</h5>']
    out.append(
        f'<p class="q">{clip(case["query"], MAX_QUERY)}</p>'
        if "query" in case
        else '<p class="muted">No case recorded for this query.</p>'
    )
    scores = " · ".join(f"{esc(m)} {fmt(vals.get(m))}" for m in names)
    elsewhere = " · ".join(f"{esc(o.rid)} {fmt(o.per_query[qid].get(primary))}" for o in others if qid in o.per_query)
    out.append(
        f'<p class="muted">{scores}'
        + (f"<br>{esc(primary)} in the other runs: {elsewhere}" if elsewhere else "")
        + "</p>"
    )
    if "retrieved" in case:
        docs = [d for d in case.get("retrieved") or [] if isinstance(d, dict)]
        rows = "".join(
            f'<tr><td class="n">{i}</td><td><code>{esc(d.get("doc_id", ""))}</code></td>'
            f'<td>{clip(d.get("title"), MAX_TITLE)}</td><td class="n">{fmt(d.get("score"), 4, "")}</td>'
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
        gone = f"<i>({esc(case['redacted'])})</i>" if case.get("redacted") else "<i>(empty)</i>"  # store/records.py
        out.append(f"<div>Answer{flag}:<blockquote>{clip(case.get('answer'), MAX_ANSWER) or gone}</blockquote></div>")
        cited = [str(d) for d in case.get("cited") or []]
        shown = ", ".join(f"<code>{esc(d)}</code> {_mark(d, rel)}" for d in cited)
        out.append(f"<p>Cited: {shown or 'nothing'}</p>")
        out.append(_missed(rel, set(cited), "Relevant, not cited"))
    for key in ("gold", "verdict"):
        if case.get(key) not in (None, ""):
            out.append(f"<p>{key.title()}: {clip(case[key], MAX_GOLD)}</p>")
    if why:
        out.append(
            "<p>Unmeasured: "
            + "; ".join(f"{esc(m)}: {clip(v, MAX_VALUE * 2)}" for m, v in sorted(why.items()))
            + "</p>"
        )
    return "".join(out) + "</div>"


def _mark(doc: str, rel: dict[str, Any]) -> str:
    return f'<span class="rel">✓ grade {esc(rel[doc])}</span>' if doc in rel else '<span class="muted">&ndash;</span>'


def _missed(rel: dict[str, Any], seen: set[str], label: str) -> str:
    """Relevant documents the case never showed; capped, since some qrels list hundreds."""
    missed = [d for d in rel if d not in seen]
    more = f" and {len(missed) - 20} more" if len(missed) > 20 else ""
    shown = ", ".join(f"<code>{esc(d)}</code> (grade {esc(rel[d])})" for d in missed[:20])
    return f'<p><span class="bad">{esc(label)}:</span> {shown}{more}</p>' if missed else ""
