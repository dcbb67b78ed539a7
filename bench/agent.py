"""The agent loop (Workspace.ask(agent=True)) on SciFact claims with a scripted model: steps,
latency per ask beside the plain extractive ask of the same claim, status, and whether a cited
passage is from a gold abstract.

    python bench/agent.py                 # 50 test claims, their gold abstracts + 1,000 others (~3 min)
    python bench/agent.py --claims 20 --others 300

The model is a loopback OpenAI-compatible server (tests/provider_server.py) scripted as an agent
would behave: turn 1 searches the claim; turn 2, for a claim of 8 words or more, searches its
second half again (a decomposed query); the last turn answers with the first sentence of the
best passage it was shown, cited. Its replies take no time, so the latency is ragwright's: the
gateway's turns, the searches, the citation check. Prints a table to stderr and JSON to stdout.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (
    DEFAULT_DATA,
    MachineLoad,
    emit,
    environment,
    load_jsonl,
    percentiles_ms,
    say,
    table,
)
from tests.provider_server import ProviderServer, tool_call

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import GatewaySettings, ModelSettings, RouteSettings

PASSAGE = re.compile(r"^\[(\d+)\] \([^\n]*\)\n(.+?)(?:\n\n\[|\Z)", re.S | re.M)


def scripted(body: dict[str, Any]) -> Any:
    """What a small agent does: search the claim, maybe its second half, then quote the best passage."""
    messages = body["messages"]
    if not body.get("tools"):  # the plain generated ask: the sources are in the user message
        return quote(messages[-1]["content"])
    claim = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    results = [m["content"] for m in messages if m["role"] == "tool"]
    words = claim.split()
    if not results:
        return [tool_call("search_documents", {"query": claim, "k": 5})]
    if len(results) == 1 and len(words) >= 8:
        return [tool_call("search_documents", {"query": " ".join(words[len(words) // 2 :]), "k": 3})]
    return quote(results[0])


def quote(text: str) -> str:
    """The first sentence of the first numbered passage in `text`, cited."""
    match = PASSAGE.search(text)
    if match is None:
        return "I don't know."
    first = re.split(r"(?<=[.!?])\s+", " ".join(match.group(2).split()))[0]
    return f"{first} [{match.group(1)}]"


def load(data: Path, claims: int, others: int) -> tuple[list[TextRecord], list[tuple[str, str, set[str]]]]:
    root = data / "scifact"
    queries = {q["_id"]: q["text"] for q in load_jsonl(root / "queries.jsonl")}
    gold: dict[str, set[str]] = {}
    for line in (root / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        gold.setdefault(qid, set()).add(doc)
    picked = [(qid, queries[qid], docs) for qid, docs in gold.items() if qid in queries][:claims]
    wanted = set().union(*(d for _, _, d in picked))
    records, extra = [], 0
    for row in load_jsonl(root / "corpus.jsonl"):
        if row["_id"] in wanted or extra < others:
            extra += row["_id"] not in wanted
            records.append(TextRecord(id=row["_id"], text=row["text"], title=row.get("title", "")))
    return records, picked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--claims", type=int, default=50)
    ap.add_argument("--others", type=int, default=1000, help="abstracts indexed beside the claims' gold ones")
    ap.add_argument("--max-steps", type=int, default=4)
    args = ap.parse_args()
    if not (args.data / "scifact" / "qrels" / "test.tsv").is_file():
        sys.exit(f"bench: SciFact not found under {args.data}/scifact (point --data at the shared data folder)")
    load_meter = MachineLoad()
    records, claims = load(args.data, args.claims, args.others)
    with ProviderServer(reply=scripted) as srv, tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "d")
        settings.models = {"m": ModelSettings(base_url=srv.base_url + "/v1", model="m", timeout_s=10)}
        settings.routes = {"default": RouteSettings(models=["m"])}
        settings.gateway = GatewaySettings(max_retries=0, cache=False)
        settings.answer.model = "default"
        with Workspace(settings=settings) as ws:
            started = time.perf_counter()
            ws.ingest_records(records)
            say(f"indexed {len(records)} abstracts in {time.perf_counter() - started:.0f} s")
            ws.ask(claims[0][1], agent=True)  # warm: sessions, connections
            ws.ask(claims[0][1])  # and the refusal calibration a plain ask makes once (about a second)
            rows = [measure(ws, claim, docs, args.max_steps) for _, claim, docs in claims]
    report(rows, load_meter, len(records), args)


def measure(ws: Workspace, claim: str, gold: set[str], max_steps: int) -> dict[str, Any]:
    started = time.perf_counter()
    answer = ws.ask(claim, agent=True, max_steps=max_steps)
    agent_s = time.perf_counter() - started
    started = time.perf_counter()
    plain = ws.ask(claim)
    plain_s = time.perf_counter() - started
    return {
        "status": answer.agent["status"],
        "steps": len(answer.agent["steps"]),
        "searches": sum(len(s["searches"]) for s in answer.agent["steps"]),
        "agent_s": agent_s,
        "plain_s": plain_s,
        "gold_cited": any(c.doc_id in gold for c in answer.citations),
        "plain_gold_cited": any(c.doc_id in gold for c in plain.citations),
    }


def report(rows: list[dict[str, Any]], load_meter: MachineLoad, indexed: int, args: argparse.Namespace) -> None:
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    agent = percentiles_ms([r["agent_s"] for r in rows])
    plain = percentiles_ms([r["plain_s"] for r in rows])
    result = {
        "benchmark": "agent",
        "claims": len(rows),
        "indexed_abstracts": indexed,
        "max_steps": args.max_steps,
        "steps_mean": round(statistics.mean(r["steps"] for r in rows), 2),
        "steps_max": max(r["steps"] for r in rows),
        "searches_mean": round(statistics.mean(r["searches"] for r in rows), 2),
        "status": statuses,
        "agent_ms": agent,
        "plain_generated_ask_ms": plain,
        "p50_ratio_agent_vs_plain": round(agent["p50"] / max(plain["p50"], 1e-9), 2),
        "gold_cited": sum(r["gold_cited"] for r in rows),
        "plain_gold_cited": sum(r["plain_gold_cited"] for r in rows),
        "machine_load": load_meter.report(),
        "environment": environment(),
    }
    say(
        table(
            [
                ["agent (scripted model)", result["steps_mean"], agent["p50"], agent["p95"], result["gold_cited"]],
                ["plain ask, same model", 1, plain["p50"], plain["p95"], result["plain_gold_cited"]],
            ],
            ["path", "model turns (mean)", "p50 ms", "p95 ms", f"gold cited /{len(rows)}"],
        )
    )
    emit(result)


if __name__ == "__main__":
    main()
