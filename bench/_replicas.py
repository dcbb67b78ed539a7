"""server_load.py --replicas N / --store-url: server replicas on one PostgreSQL against one SQLite
server, in one run (issue 18).

The index is built (or reused) in SQLite as for the single-server run, a read key is made there, and
`store/copy.py` copies the whole workspace, key included, into a fresh PostgreSQL database (`--store-url
postgres`: a throwaway cluster from tests/pg.py; else a server where this user may CREATE DATABASE).
Then, one after the other, each set-up serves the same load from the same client process:

  sqlite     one `ragwright serve` (--workers) over the SQLite data dir, as the single-server run;
  postgres   N `ragwright serve` processes (--replica-workers each) on different ports, one shared
             data dir, RAGWRIGHT_STORE_URL naming the database; client j talks to replica j % N.

Each set-up gets the same warm-up (every cycled query four times at the target clients), then
/v1/search at each --concurrency, "cycle" and "distinct" queries. The target (issue 18) is checked on
the replicas: >= 300 requests/s at 32 clients, p99 <= 100 ms, 0 errors; the ratios to the SQLite
server come from the same run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import server_load as sl
from _common import say

REPO = Path(__file__).resolve().parents[1]


def postgres_database(args: argparse.Namespace) -> tuple[str, Any]:
    """(URL of a fresh database, the throwaway cluster to stop or None)."""
    from pg_workspace import database

    cluster = None
    url = args.store_url
    if url == "postgres":
        sys.path.insert(0, str(REPO))
        from tests import pg as pgtool

        cluster = pgtool.start()
        url = cluster.url
    return database(url, "ragwright_bench_replicas"), cluster


def postmaster_pid(cluster: Any) -> int | None:
    """The throwaway cluster's server process, whose children are the connections' backends."""
    try:
        return int((cluster.folder / "data" / "postmaster.pid").read_text().split()[0])
    except (AttributeError, OSError, ValueError, IndexError):
        return None


DB_STATS = (
    "SELECT xact_commit, tup_returned, tup_fetched, tup_inserted, tup_updated, tup_deleted "
    "FROM pg_stat_database WHERE datname = current_database()"
)


def db_stats(url: str) -> list[int] | None:
    """The database's transaction and row counters (statistics lag up to 0.5 s behind: a run's
    delta is close, not exact). In autocommit every statement is a transaction of its own."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(DB_STATS).fetchone()
    except psycopg.Error:
        return None
    return [int(x) for x in row] if row else None


def copy_index(data_dir: Path, pg_url: str) -> dict[str, Any]:
    from ragwright.store.copy import copy_store

    report = copy_store(f"sqlite:///{data_dir / 'ragwright.db'}", pg_url)
    return {"seconds": round(report.seconds, 1), "counts_ok": all(c.ok for c in report.counts)}


def start_servers(
    args: argparse.Namespace, n: int, workers: int, data_dir: Path, config: Path, store_url: str, tmp: Path, name: str
) -> tuple[list[subprocess.Popen], list[int]]:
    env = sl.server_env(args)
    env.pop("RAGWRIGHT_STORE_URL", None)
    if store_url:
        env["RAGWRIGHT_STORE_URL"] = store_url
    procs, ports = [], []
    for i in range(n):
        port = sl.free_port()
        cmd = sl.server_cmd(args, port, data_dir, config)
        cmd[cmd.index("--workers") + 1] = str(workers)
        log = tmp / f"{name}-{i}.log"
        procs.append(sl.start(cmd, log, env=env))
        ports.append(port)
        sl.wait_ready(procs[-1], port, log)
    return procs, ports


def serve_and_load(
    args: argparse.Namespace,
    bench: sl.Bench,
    setup: str,
    procs: list[subprocess.Popen],
    ports: list[int],
    tc: int,
    db_pid: int | None,
    db_url: str = "",
) -> list[dict[str, Any]]:
    """Warm-up, then the runs; with db_pid, PostgreSQL's own CPU per request beside the servers'."""
    from _common import proc_cpu_s

    pids = [p.pid for p in procs]
    warm = bench.load(pids, ports, "/v1/search", tc, 4 * len(bench.queries), False)
    if warm["errors"]:
        say(f"server load: {setup} warm-up errors: {warm['error_kinds']} {warm['error_samples']}")
    runs = []
    for distinct in (False, True):
        for c in args.concurrency:
            db0, st0 = proc_cpu_s(db_pid) if db_pid else None, db_stats(db_url) if db_url else None
            r = bench.load(pids, ports, "/v1/search", c, args.search_requests, distinct)
            time.sleep(0.6)  # the statistics collector's flush
            db1, st1 = proc_cpu_s(db_pid) if db_pid else None, db_stats(db_url) if db_url else None
            if st0 and st1:
                names = (
                    "transactions",
                    "rows_returned",
                    "rows_fetched",
                    "rows_inserted",
                    "rows_updated",
                    "rows_deleted",
                )
                n = max(r["completed"], 1)
                r["db_per_request"] = {k: round((b - a) / n, 2) for k, a, b in zip(names, st0, st1, strict=True)}
            if db0 is not None and db1 is not None:
                r["db_cpu_ms_per_request"] = round(1000 * (db1 - db0) / max(r["completed"], 1), 3)
                r["db_cores"] = round((db1 - db0) / r["wall_s"], 2) if r["wall_s"] else None
            r.update(
                setup=setup,
                servers=len(procs),
                endpoint="/v1/search",
                queries="distinct" if distinct else "cycle",
                clients=c,
                client=args.client_kind,
                pinning="none",
            )
            runs.append(r)
            db = f"; PostgreSQL {r['db_cores']} cores" if "db_cores" in r else ""
            db += f", per request {r['db_per_request']}" if "db_per_request" in r else ""
            say(f"  [{setup}]" + sl._line(r) + db)
    return runs


def run(args: argparse.Namespace, queries: list[str], out: dict[str, Any], tmp: Path) -> None:
    """Fill out["index"], out["copy"], out["runs"] (each with its set-up) and out["replicas"]."""
    data_dir = args.index_dir or tmp / "data"
    config = args.config or tmp / "ragwright.toml"
    if args.config is None:
        config.write_text("# bench/server_load.py: defaults\n", encoding="utf-8")
    out["index"] = sl.build_index(args, data_dir, config)
    key = sl.create_key(data_dir, config)
    pg_url, cluster = postgres_database(args)
    client = None
    procs: list[subprocess.Popen] = []
    try:
        out["copy"] = copy_index(data_dir, pg_url)
        say(f"server load: copied the index into PostgreSQL: {out['copy']}")
        client = sl.Client(tmp / "client.log")
        bench = sl.Bench(args, client, key, queries)
        tc = args.target_clients if args.target_clients in args.concurrency else max(args.concurrency)
        pg_dir = tmp / "pg-data"
        pg_dir.mkdir(exist_ok=True)
        setups = [
            ("sqlite", 1, args.workers, data_dir, ""),
            ("postgres", args.replicas, args.replica_workers, pg_dir, pg_url),
        ]
        runs: list[dict[str, Any]] = []
        for setup, n, workers, ddir, url in setups:
            say(f"server load: {setup}: {n} server(s) x {workers} worker(s) ...")
            procs, ports = start_servers(args, n, workers, ddir, config, url, tmp, setup)
            db_pid = postmaster_pid(cluster) if url else None
            runs += serve_and_load(args, bench, setup, procs, ports, tc, db_pid, url)
            for p in procs:
                sl.stop(p)
            procs = []
        out["runs"] = runs
        out["replicas"] = {
            "replicas": args.replicas,
            "replica_workers": args.replica_workers,
            "sqlite_workers": args.workers,
            "ratio_postgres_to_sqlite": ratios(runs),
        }
    finally:
        for p in procs:
            sl.stop(p)
        if client is not None:
            client.close()
        if cluster is not None:
            from tests import pg as pgtool

            pgtool.stop(cluster)


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests/s and p99 of the replicas over the SQLite server's, setting by setting."""
    by = {(r["setup"], r["queries"], r["clients"]): r for r in runs}
    out = []
    for (setup, queries, clients), r in by.items():
        base = by.get(("sqlite", queries, clients))
        if setup != "postgres" or base is None or not base["requests_per_s"] or not r["latency_ms"]:
            continue
        out.append(
            {
                "queries": queries,
                "clients": clients,
                "requests_per_s": round(r["requests_per_s"] / base["requests_per_s"], 3),
                "p99": round(r["latency_ms"]["p99"] / base["latency_ms"]["p99"], 3),
            }
        )
    return out


def target_runs(out: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs the target is checked on: the replicas' (all runs when there was no replica set-up)."""
    runs = out.get("runs", [])
    return [r for r in runs if r.get("setup", "postgres") == "postgres"]
