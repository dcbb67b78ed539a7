"""`bench/server_load.py --new-queries`: POST /v1/search with every query new to the server, at
--target-clients (32) and --workers (2), against a server with today's embedding graph (the
packaged file, RAGWRIGHT_EMBEDDING_GRAPH=packaged) and one with the fused int8 graph, each over
the same documents indexed with its own graph (two vector spaces by name), alternating for
--rounds rounds in one run. Issue 20's target: >= 250 requests/s, p99 <= 150 ms, 0 errors
(today 118/s, p99 534 ms)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import server_load as sl
from _common import LoadBesideChildren, say

GRAPHS = ("packaged", "fused-int8")
TARGET = {"requests_per_s_min": 250.0, "p99_ms_max": 150.0, "errors_max": 0}


def run(args: argparse.Namespace, queries: list[str], out: dict[str, Any], tmp: Path) -> None:
    config = args.config or tmp / "ragwright.toml"
    if args.config is None:
        config.write_text("# bench/server_load.py --new-queries: defaults\n", encoding="utf-8")
    # The two graphs are two vector spaces by name (models/embedding.py): one index each.
    dirs = {g: (args.index_dir or tmp / "data") / g for g in GRAPHS}
    out["index"], keys = {}, {}
    for graph, data_dir in dirs.items():
        os.environ["RAGWRIGHT_EMBEDDING_GRAPH"] = graph  # build_index's Workspace, in this process
        try:
            out["index"][graph] = sl.build_index(args, data_dir, config)
        finally:
            del os.environ["RAGWRIGHT_EMBEDDING_GRAPH"]
        keys[graph] = sl.create_key(data_dir, config)
    client = sl.Client(tmp / "client.log")
    clients, runs = args.target_clients, []
    try:
        for n in range(args.rounds):
            for graph in GRAPHS if n % 2 == 0 else GRAPHS[::-1]:
                bench = sl.Bench(args, client, keys[graph], queries)
                runs.append(one_server(args, bench, graph, clients, dirs[graph], config, tmp, client))
                other = (runs[-1]["machine_load"] or {}).get("other_processes_share_of_machine")
                busy = f", other processes {100 * other:.0f}% of the machine" if other is not None else ""
                say(sl._line(runs[-1]) + f"  [{graph}]{busy}")
    finally:
        client.close()
    out["new_queries"] = summarise(runs)


def one_server(
    args: argparse.Namespace,
    bench: sl.Bench,
    graph: str,
    clients: int,
    data_dir: Path,
    config: Path,
    tmp: Path,
    client: sl.Client,
) -> dict[str, Any]:
    """One timed run; `machine_load`: the CPU other processes (not the server, its workers, the
    client or this script) took meanwhile, which the figures of a 2-core run depend on."""
    port, log = sl.free_port(), tmp / f"server-{graph}.log"
    env = sl.server_env(args) | {"RAGWRIGHT_EMBEDDING_GRAPH": graph}
    server = sl.start(sl.server_cmd(args, port, data_dir, config), log, env=env)
    try:
        sl.wait_ready(server, port, log)
        bench.load(server.pid, port, "/v1/search", clients, 200, True)  # each worker loads its model
        load = LoadBesideChildren([server, client.proc])
        r = bench.load(server.pid, port, "/v1/search", clients, args.search_requests, True)
        r["machine_load"] = load.report()
    finally:
        sl.stop(server)
    r.update(endpoint="/v1/search", queries="new", clients=clients, client=args.client_kind, pinning="none")
    return r | {"graph": graph, "loadavg_after": round(os.getloadavg()[0], 2)}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by_graph = {g: [r for r in runs if r["graph"] == g] for g in GRAPHS}
    best = {g: max(rs, key=lambda r: r["requests_per_s"]) for g, rs in by_graph.items() if rs}
    fused = best.get("fused-int8")
    met = None
    if fused:
        p99 = (fused["latency_ms"] or {}).get("p99", float("inf"))
        met = (
            fused["requests_per_s"] >= TARGET["requests_per_s_min"]
            and p99 <= TARGET["p99_ms_max"]
            and fused["errors"] <= TARGET["errors_max"]
        )
    ratios = [
        round(f["requests_per_s"] / p["requests_per_s"], 2)
        for f, p in zip(by_graph["fused-int8"], by_graph["packaged"], strict=False)
        if p["requests_per_s"]
    ]
    return {"runs": runs, "target": TARGET, "fused_target_met": met, "fused_over_packaged_req_s": ratios}
