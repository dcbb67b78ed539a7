"""HTTP server load: a bounded load on loopback against the real `ragwright serve` process,
requests/s, p50/p99/max latency and errors for POST /v1/search and POST /v1/ask, with the
server's and the client's CPU per request, peers measured in the same run, and a py-spy
profile of the server under load.

    python bench/server_load.py            # SciFact (5,183 abstracts: ~15-25 min to ingest on 2 cores), then the load
    python bench/server_load.py --quick    # a smoke run: the sample corpus, 300 requests per run
    python bench/server_load.py --index-dir /tmp/idx   # build the index there once, reuse it next time

What runs, each in its own process:

  server   `python -m ragwright serve --port P --data-dir DIR --config F` on a free loopback port,
           over an index built by this script in a temporary data dir (SciFact's corpus through
           Workspace.ingest_records(..., access=Access("bench")), or examples/sample-corpus with
           --corpus sample), with one read key made by `ragwright keys create --json`.
  client   `server_load.py --client`: an asyncio load generator, one kept-alive HTTP/1.1
           connection per concurrent client, a fixed number of requests shared among the clients
           (each takes the next request when its previous answer is in), then a JSON result.
           The default client writes HTTP/1.1 on asyncio streams itself (a few lines, little
           CPU: on 2 cores every client cycle is taken from the server); `--client-kind httpx`
           uses one httpx.AsyncClient per concurrent client, and the full run measures that
           client once more beside the default so the client's own cost shows.
  floor    a peer: a bare FastAPI app under the same uvicorn (`server_load.py` runs it from a
           string in its own process) whose POST /v1/search validates the same body and returns
           a canned 10-result answer of the real size: the HTTP stack alone, no auth, no audit,
           no retrieval.
  in-process peers: Workspace.search with the server's access filter, in this script's process
           before the server starts, sequentially and from --concurrency threads: retrieval
           alone, no HTTP.

Queries are SciFact's 300 test queries, cycling in order ("cycle"), and, in a second run of
each setting, every request's query made distinct by a unique suffix word ("distinct"), so that
no query cache could help. Before the runs of an endpoint, a warm-up sends every cycled query
four times (for /v1/search), so that "cycle" measures the steady state of repeated queries in each
worker process (the query-vector cache is per process). Every response is checked: a non-200
status, a body that is not the expected JSON, or an exception (connection error, --timeout)
counts as an error.

CPU: the server's and the client's CPU seconds during each run (/proc/PID/stat) are reported
per request and as cores used. By default nothing is pinned (the server may use both cores, as
the target says "on 2 cores"; the client takes what it needs from the same two). With
--pinning-check (on in the full run) the target setting is run once more with the server pinned
to one core and the client to the other, to show how much the shared cores cost.

Target from the issue, checked at --target-clients (32) for "cycle" and "distinct":
/v1/search >= 300 requests/s, p99 <= 100 ms, 0 errors.

A human table goes to stderr; one JSON object is the last thing on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE_CORPUS = REPO / "examples" / "sample-corpus"
TENANT = "bench"

TARGET_RPS = 300.0
TARGET_P99_MS = 100.0
TARGET_CLIENTS = 32

# For --corpus sample: questions the sample corpus answers (SciFact's would mostly miss it).
SAMPLE_QUESTIONS = [
    "How many vacation days do I get?",
    "Can I work from home?",
    "How do I claim travel expenses?",
    "What laptop do new employees get?",
    "How often must I change my password?",
    "What happens on my first day?",
    "Who approves remote work?",
    "How do I report a lost laptop?",
    "Is parental leave paid?",
    "What is the meal allowance when travelling?",
    "Which equipment can I take home?",
    "How do I report a phishing email?",
]

# The peer server: FastAPI + uvicorn with the real endpoint's body model, a sync endpoint (so the
# same threadpool hop) and a canned answer of the real size. Run as `python -c` so that FastAPI
# sees real annotations.
FLOOR_SERVER = r"""
import json, sys
from typing import Any, Literal, Optional
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

port, payload_file = int(sys.argv[1]), sys.argv[2]
with open(payload_file, encoding="utf-8") as fh:
    PAYLOAD = json.load(fh)
FilterValue = str | int | float | bool | list[str | int | float | bool]

class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=20_000)
    k: int = Field(10, ge=1, le=100)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    filters: Optional[dict[str, FilterValue]] = None

app = FastAPI(docs_url=None, redoc_url=None)

@app.get("/readyz")
def readyz() -> JSONResponse:
    return JSONResponse({"status": "ready"})

@app.post("/v1/search")
def search(body: SearchBody, request: Request) -> dict[str, Any]:
    if not request.headers.get("authorization", "").lower().startswith("bearer "):
        return JSONResponse({"error": {"type": "unauthorized", "message": "no key"}}, status_code=401)
    return {"results": PAYLOAD["results"][: body.k]}

uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


# -- processes and CPU ------------------------------------------------------------------------------

_STARTED: list[subprocess.Popen] = []  # the servers, client and profilers this run started
_LOAD: Any = None  # LoadBesideChildren, from the start of main


def proc_rss_mib(pid: int) -> float | None:
    """Resident memory of a process and its children (a server's workers), in MiB."""
    from _common import children_of

    total = None
    for p in [pid, *children_of(pid)]:
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total = (total or 0.0) + int(line.split()[1]) / 1024
        except (OSError, ValueError):
            continue
    return None if total is None else round(total, 1)


def pin_process(pid: int, cpus: set[int] | None) -> None:
    """Set the CPU affinity of every thread of a process (new threads inherit their creator's)."""
    if cpus is None or not hasattr(os, "sched_setaffinity"):
        return
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        tids = [pid]
    for tid in tids:
        with contextlib.suppress(OSError):  # the thread may have ended since listdir
            os.sched_setaffinity(tid, cpus)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen:
    fh = log.open("ab")
    kw.setdefault("stdout", fh)
    proc = subprocess.Popen(cmd, stderr=fh, env=env, cwd=kw.pop("cwd", REPO), **kw)
    fh.close()
    _STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(proc: subprocess.Popen, port: int, log: Path, timeout_s: float = 180.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            sys.exit(
                f"server_load: the server exited ({proc.returncode}) before it was ready:\n"
                + log.read_text(errors="replace")[-3000:]
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=30) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.2)
    stop(proc)
    sys.exit(
        f"server_load: the server was not ready after {timeout_s:.0f} s:\n" + log.read_text(errors="replace")[-3000:]
    )


class Client:
    """The load generator: this file with --client, in its own process, driven over a pipe."""

    def __init__(self, log: Path) -> None:
        self.proc = start(
            [sys.executable, str(Path(__file__).resolve()), "--client"],
            log,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def run(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"server_load: the client process died ({self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the client process (--client) ------------------------------------------------------------------


def client_main() -> int:
    """Read one JSON command per line on stdin, run it, write one JSON result per line on stdout."""
    for line in sys.stdin:
        if line.strip():
            result = asyncio.run(run_load(json.loads(line)))
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
    return 0


def request_text(cmd: dict[str, Any], i: int) -> str:
    queries = cmd["queries"]
    q = queries[(cmd.get("offset", 0) + i) % len(queries)]
    return f"{q} {cmd['tag']}{i}" if cmd.get("distinct") else q


def request_body(cmd: dict[str, Any], i: int) -> bytes:
    text = request_text(cmd, i)
    body = {"query": text, "k": cmd["k"]} if cmd["path"].endswith("/search") else {"question": text}
    return json.dumps(body).encode()


def check_answer(path: str, data: Any) -> str | None:
    """None for a well-formed answer, else what is wrong with it."""
    if path.endswith("/search"):
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            return "bad_body"
        if any(not isinstance(r, dict) or "chunk_id" not in r for r in data["results"]):
            return "bad_body"
        return None
    if not isinstance(data, dict) or not isinstance(data.get("answer"), str) or "citations" not in data:
        return "bad_body"
    return None


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, chunked, close = 0, False, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if not chunked:
        return status, await reader.readexactly(length), close
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return status, b"".join(parts), close
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def run_load(cmd: dict[str, Any]) -> dict[str, Any]:
    """Send cmd["requests"] requests from cmd["concurrency"] connections; latencies in seconds."""
    host, path, n = "127.0.0.1", cmd["path"], cmd["requests"]
    ports = cmd.get("ports") or [cmd["port"]]  # several replicas: client j talks to ports[j % len]
    bodies = [request_body(cmd, i) for i in range(n)]
    auth = f"Bearer {cmd['key']}"
    heads = {
        p: (
            f"POST {path} HTTP/1.1\r\nhost: {host}:{p}\r\nauthorization: {auth}\r\n"
            "content-type: application/json\r\naccept: application/json\r\ncontent-length: "
        )
        for p in ports
    }
    timeout_s, kind = cmd["timeout_s"], cmd.get("kind", "raw")
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    error_samples: dict[str, str] = {}
    empty = 0
    nxt = 0
    go = asyncio.Event()
    deadline = [float("inf")]

    def take() -> int | None:
        nonlocal nxt
        if nxt >= n or time.perf_counter() > deadline[0]:
            return None
        nxt += 1
        return nxt - 1

    def record(i: int, t0: float, status: int, body: bytes) -> None:
        nonlocal empty
        latencies.append(time.perf_counter() - t0)
        if status != 200:
            errors[f"http_{status}"] += 1
            error_samples.setdefault(f"http_{status}", body[:300].decode("utf-8", "replace"))
            return
        try:
            data = json.loads(body)
        except ValueError:
            errors["bad_json"] += 1
            return
        problem = check_answer(path, data)
        if problem:
            errors[problem] += 1
            error_samples.setdefault(problem, body[:300].decode("utf-8", "replace"))
        elif path.endswith("/search") and not data["results"]:
            empty += 1

    def failed(exc: BaseException) -> None:
        name = "timeout" if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else type(exc).__name__
        errors[name] += 1
        error_samples.setdefault(name, repr(exc)[:300])

    async def raw_worker(j: int) -> None:
        port = ports[j % len(ports)]
        head_fmt = heads[port]
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = await asyncio.open_connection(host, port)
        await go.wait()
        while (i := take()) is not None:
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                reader, writer = conn
                payload = bodies[i]
                async with asyncio.timeout(timeout_s):
                    writer.write(f"{head_fmt}{len(payload)}\r\n\r\n".encode() + payload)
                    status, body, close = await _read_response(reader)
                record(i, t0, status, body)
                if close:
                    writer.close()
                    conn = None
            except Exception as exc:  # noqa: BLE001  counted, then a fresh connection
                failed(exc)
                if conn is not None:
                    conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    async def httpx_worker(j: int) -> None:
        import httpx

        port = ports[j % len(ports)]

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=f"http://{host}:{port}",
            limits=limits,
            timeout=timeout_s,
            headers={"authorization": auth, "content-type": "application/json"},
        ) as client:
            await client.get("/healthz")  # opens the connection before the clock starts
            await go.wait()
            while (i := take()) is not None:
                t0 = time.perf_counter()
                try:
                    r = await client.post(path, content=bodies[i])
                    record(i, t0, r.status_code, r.content)
                except Exception as exc:  # noqa: BLE001
                    failed(exc)

    worker = httpx_worker if kind == "httpx" else raw_worker
    tasks = [asyncio.create_task(worker(j)) for j in range(cmd["concurrency"])]
    await asyncio.sleep(0.05)  # let every worker connect
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline[0] = t0 + cmd["max_s"]
    go.set()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    for d in done:
        if isinstance(d, BaseException):
            failed(d)
    return {
        "sent": nxt,
        "wall_s": wall,
        "client_cpu_s": cpu,
        "latencies_s": latencies,
        "errors": dict(errors),
        "error_samples": error_samples,
        "empty_results": empty,
    }


# -- building the index -----------------------------------------------------------------------------


def build_index(args: argparse.Namespace, data_dir: Path, config: Path) -> dict[str, Any]:
    from _common import load_jsonl, say, scifact_paths

    from ragwright import TextRecord, Workspace
    from ragwright.types import Access

    ws = Workspace(data_dir, config_file=config)
    try:
        existing = len(ws.documents())
        if existing:
            say(f"server load: reusing the index in {data_dir} ({existing:,} documents)")
            return {"reused": True, "documents": existing}
        t0 = time.perf_counter()
        if args.corpus == "sample":
            say(f"server load: ingesting {SAMPLE_CORPUS} ...")
            report = ws.ingest([SAMPLE_CORPUS], access=Access(TENANT))
        else:
            corpus_path, _ = scifact_paths(args.data)
            rows = load_jsonl(corpus_path, args.limit or None)
            records = [TextRecord(id=str(d["_id"]), title=d.get("title", ""), text=d.get("text", "")) for d in rows]
            say(f"server load: ingesting {len(records):,} SciFact documents (a few minutes on 2 cores) ...")
            report = ws.ingest_records(records, access=Access(TENANT))
        seconds = time.perf_counter() - t0
        if report.failed:
            sys.exit(f"server_load: ingestion failed for {len(report.failed)} documents: {report.failed[:3]}")
        say(f"  {report.ingested:,} documents, {report.chunks:,} chunks in {seconds:.1f} s")
        return {"reused": False, "documents": report.ingested, "chunks": report.chunks, "ingest_s": round(seconds, 1)}
    finally:
        ws.close()


def in_process_peers(args: argparse.Namespace, data_dir: Path, config: Path, queries: list[str]) -> dict[str, Any]:
    """Workspace.search (and .ask) in this process with the server's filter: retrieval without HTTP."""
    from concurrent.futures import ThreadPoolExecutor

    from _common import percentiles_ms

    from ragwright import Workspace
    from ragwright.types import Access

    filters = {"access": Access(TENANT)}  # what the server passes for a read key of the tenant, no groups
    out: dict[str, Any] = {}
    ws = Workspace(data_dir, config_file=config)
    try:
        for q in queries[:20]:  # warm-up: the model, the in-memory indexes
            ws.search(q, args.k, filters)
        n = min(args.search_requests, args.peer_searches)
        texts = [queries[i % len(queries)] for i in range(n)]

        def seq(fn: Any, items: list[str]) -> dict[str, Any]:
            lat = []
            cpu0, t0 = time.process_time(), time.perf_counter()
            for t in items:
                s = time.perf_counter()
                fn(t)
                lat.append(time.perf_counter() - s)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            return {
                "calls": len(items),
                "per_s": round(len(items) / wall, 1),
                "latency_ms": percentiles_ms(lat),
                "cpu_ms_per_call": round(1000 * cpu / len(items), 3),
                "cores_used": round(cpu / wall, 2),
            }

        out["search_1_thread"] = seq(lambda t: ws.search(t, args.k, filters), texts)
        threads = max(args.concurrency)
        cpu0, t0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda t: ws.search(t, args.k, filters), texts))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        out[f"search_{threads}_threads"] = {
            "calls": n,
            "threads": threads,
            "per_s": round(n / wall, 1),
            "cpu_ms_per_call": round(1000 * cpu / n, 3),
            "cores_used": round(cpu / wall, 2),
        }
        # The query embedding alone, one query per call (as each request does) and batched (what
        # micro-batching concurrent requests would pay per query).
        emb = ws.embedder
        batch = max(args.concurrency)
        texts_e = [queries[i % len(queries)] for i in range(max(batch * 10, 200))]
        one = out["embed_1_query"] = seq(lambda t: emb.embed([t]), texts_e[:200])
        one["per_query_cpu_ms"] = one["cpu_ms_per_call"]
        groups = [texts_e[i : i + batch] for i in range(0, len(texts_e) - batch + 1, batch)]
        cpu0, t0 = time.process_time(), time.perf_counter()
        for g in groups:
            emb.embed(g)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        nq = sum(len(g) for g in groups)
        out[f"embed_batch_{batch}"] = {
            "calls": len(groups),
            "queries": nq,
            "per_s": round(nq / wall, 1),
            "cpu_ms_per_call": round(1000 * cpu / len(groups), 3),
            "per_query_cpu_ms": round(1000 * cpu / nq, 3),
            "cores_used": round(cpu / wall, 2),
        }
        m = min(args.ask_requests, args.peer_asks)
        out["ask_1_thread"] = seq(lambda t: ws.ask(t, filters), [queries[i % len(queries)] for i in range(m)])
        payload = {
            "results": [
                {
                    k: r.to_dict()[k]
                    for k in (
                        "doc_id",
                        "chunk_id",
                        "source",
                        "score",
                        "text",
                        "title",
                        "heading_path",
                        "page",
                        "location",
                    )
                }
                for r in ws.search(queries[0], args.k, filters)
            ]
        }
    finally:
        ws.close()
    out["canned_search_answer_bytes"] = len(json.dumps(payload))
    return out | {"_payload": payload}


# -- the orchestration -------------------------------------------------------------------------------


def summarise(res: dict[str, Any], requests: int, server_cpu_s: float | None) -> dict[str, Any]:
    from _common import percentiles_ms

    done = len(res["latencies_s"]) + sum(
        v for k, v in res["errors"].items() if not k.startswith("http_") and k not in ("bad_json", "bad_body")
    )
    n_err = sum(res["errors"].values())
    wall = res["wall_s"]
    out = {
        "requests": requests,
        "sent": res["sent"],
        "completed": done,
        "errors": n_err,
        "error_kinds": res["errors"],
        "error_samples": res["error_samples"],
        "requests_per_s": round(done / wall, 1) if wall else None,
        "latency_ms": percentiles_ms(res["latencies_s"]) if res["latencies_s"] else None,
        "wall_s": round(wall, 2),
        "client_cpu_ms_per_request": round(1000 * res["client_cpu_s"] / max(done, 1), 3),
        "client_cores": round(res["client_cpu_s"] / wall, 2) if wall else None,
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(done, 1), 3) if server_cpu_s is not None else None,
        "server_cores": round(server_cpu_s / wall, 2) if server_cpu_s is not None and wall else None,
    }
    if res.get("empty_results"):
        out["empty_results"] = res["empty_results"]
    return out


class Bench:
    def __init__(self, args: argparse.Namespace, client: Client, key: str, queries: list[str]) -> None:
        self.args, self.client, self.key, self.queries = args, client, key, queries
        self.tag = 0
        self.nonce = os.urandom(3).hex()  # distinct queries stay distinct across runs (the server keeps query vectors)

    def load(
        self,
        pid: int | list[int],
        port: int | list[int],
        path: str,
        clients: int,
        requests: int,
        distinct: bool,
        kind: str = "raw",
    ) -> dict[str, Any]:
        """One run; with lists of pids and ports (replicas), the clients are spread over the ports
        and the servers' CPU is summed."""
        self.tag += 1
        pids, ports = pid if isinstance(pid, list) else [pid], port if isinstance(port, list) else [port]
        cmd = {
            "ports": ports,
            "path": path,
            "key": self.key,
            "queries": self.queries,
            "distinct": distinct,
            "tag": f"zq{self.nonce}{self.tag}x",
            "requests": requests,
            "concurrency": clients,
            "k": self.args.k,
            "timeout_s": self.args.timeout,
            "max_s": self.args.max_run_s,
            "kind": kind,
        }
        from _common import proc_cpu_s

        cpu0 = [proc_cpu_s(p) for p in pids]
        res = self.client.run(cmd)
        cpu1 = [proc_cpu_s(p) for p in pids]
        known = None not in cpu0 and None not in cpu1
        rss = [proc_rss_mib(p) for p in pids]
        return summarise(res, requests, sum(cpu1) - sum(cpu0) if known else None) | {  # type: ignore[arg-type]
            "server_rss_mib_after": sum(rss) if None not in rss else None  # type: ignore[arg-type]
        }


def server_cmd(args: argparse.Namespace, port: int, data_dir: Path, config: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ragwright",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--config",
        str(config),
        "--workers",
        str(args.workers),
    ]


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = os.environ.copy()
    if args.server_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([args.server_pythonpath] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def create_key(data_dir: Path, config: Path) -> str:
    """A read key of the bench tenant, made by the CLI as a user would."""
    made = subprocess.run(
        [
            *(sys.executable, "-m", "ragwright", "keys", "create", "--tenant", TENANT, "--scopes", "read", "--json"),
            *("--data-dir", str(data_dir), "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if made.returncode != 0:
        sys.exit(f"server_load: ragwright keys create failed: {made.stderr[-2000:]}")
    return json.loads(made.stdout)["key"]


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--client"]:
        return client_main()
    from _common import add_data_arg, load_jsonl, say, scifact_paths

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_arg(ap)
    ap.add_argument("--quick", action="store_true", help="smoke run: the sample corpus, 300 requests per run")
    ap.add_argument(
        "--corpus",
        choices=("scifact", "sample"),
        default=None,
        help="scifact (default): SciFact's 5,183 abstracts; sample: examples/sample-corpus",
    )
    ap.add_argument("--limit", type=int, default=0, help="SciFact documents ingested (0 = all)")
    ap.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="data dir for the index: built there if empty, reused if not (default: a temp dir)",
    )
    ap.add_argument("--config", type=Path, default=None, help="ragwright.toml for the server (default: none, defaults)")
    ap.add_argument("--search-requests", type=int, default=None, help="requests per /v1/search run (default 3000)")
    ap.add_argument("--ask-requests", type=int, default=None, help="requests per /v1/ask run (default 300)")
    ap.add_argument("--concurrency", default="1,8,32", help="concurrent clients, comma-separated (default 1,8,32)")
    ap.add_argument("--target-clients", type=int, default=TARGET_CLIENTS)
    ap.add_argument("--k", type=int, default=10, help="results per search (default 10)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as an error")
    ap.add_argument("--max-run-s", type=float, default=300.0, help="a run sends no new request after this")
    ap.add_argument("--client-kind", choices=("raw", "httpx"), default="raw")
    ap.add_argument(
        "--pinning-check",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run the target setting with server and client on one core each (full run: on)",
    )
    ap.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure the in-process and HTTP-floor peers (default: on)",
    )
    ap.add_argument("--peer-searches", type=int, default=600)
    ap.add_argument("--peer-asks", type=int, default=100)
    ap.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="py-spy profile of the server under the target load (full run: on when py-spy is found)",
    )
    ap.add_argument("--py-spy", default=None, help="path of py-spy (default: on PATH)")
    ap.add_argument("--profile-out", type=Path, default=None, help="keep py-spy's collapsed stacks here")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes (default 2: one per core)")
    ap.add_argument(
        "--save",
        type=Path,
        default=None,
        help="also write the results so far to this JSON file after every run (for long runs)",
    )
    ap.add_argument(
        "--server-pythonpath",
        default=None,
        help="prepended to the server's PYTHONPATH (to try e.g. uvloop/httptools without installing them)",
    )
    ap.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="N > 1: N servers on one PostgreSQL (--store-url) beside one SQLite server, same run (bench/_replicas.py)",
    )
    ap.add_argument(
        "--store-url",
        default=None,
        help="PostgreSQL for --replicas: postgresql://... where this user may CREATE DATABASE, or 'postgres' "
        "for a throwaway cluster (tests/pg.py; the default with --replicas)",
    )
    ap.add_argument("--replica-workers", type=int, default=1, help="worker processes per replica (default 1)")
    ap.add_argument(
        "--new-queries",
        action="store_true",
        help="only /v1/search, every query new: packaged embedding graph beside the fused one (bench/_new_queries.py)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="--new-queries: rounds of the two servers (default 2)")
    args = ap.parse_args(argv)
    if args.replicas > 1 or args.store_url:
        args.store_url = args.store_url or "postgres"
        args.peers, args.pinning_check, args.profile = False, False, False  # the set-ups are each other's peers

    quick = args.quick
    args.corpus = args.corpus or ("sample" if quick else "scifact")
    args.search_requests = args.search_requests or (300 if quick else 3000)
    args.ask_requests = args.ask_requests or (30 if quick else 300)
    if args.pinning_check is None:
        args.pinning_check = not quick
    try:
        args.concurrency = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    except ValueError:
        sys.exit(f"--concurrency: expected comma-separated numbers, got {args.concurrency!r}")
    if not args.concurrency or args.concurrency[0] < 1:
        sys.exit("--concurrency: give at least one positive number")
    pyspy = args.py_spy or shutil.which("py-spy")
    if args.profile is None:
        args.profile = bool(pyspy) and not quick
    if args.profile and not pyspy:
        sys.exit("--profile: py-spy not found (pip install py-spy, or --py-spy PATH)")

    if args.corpus == "scifact":
        _, queries_path = scifact_paths(args.data)
        queries = [q["text"] for q in load_jsonl(queries_path) if q.get("text", "").strip()]
    else:
        queries = SAMPLE_QUESTIONS
    from _common import LoadBesideChildren

    global _LOAD
    _LOAD = LoadBesideChildren(_STARTED)
    loadavg = os.getloadavg()
    out: dict[str, Any] = {
        "benchmark": "server_load",
        "corpus": args.corpus,
        "distinct_queries": len(queries),
        "loadavg_at_start": [round(x, 2) for x in loadavg],
        "settings": {
            "search_requests": args.search_requests,
            "ask_requests": args.ask_requests,
            "concurrency": args.concurrency,
            "k": args.k,
            "client": args.client_kind,
            "timeout_s": args.timeout,
            "server_pythonpath": args.server_pythonpath,
        },
    }
    if loadavg[0] > 0.5:
        say(f"server load: note: load average {loadavg[0]:.2f} at start; another process may skew the numbers")

    tmp = Path(tempfile.mkdtemp(prefix="ragwright-bench-server-"))
    server = floor = None
    client: Client | None = None
    if args.new_queries:
        from _common import emit, environment
        from _new_queries import run as run_new_queries

        try:
            run_new_queries(args, queries, out, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        out["machine_load"] = _LOAD.report() if _LOAD else None
        out["environment"] = environment()
        say(
            f"new queries: fused/packaged req/s per round {out['new_queries']['fused_over_packaged_req_s']}, "
            f"target met: {out['new_queries']['fused_target_met']}; loadavg now {os.getloadavg()[0]:.2f}"
        )
        emit(out)
        return 0
    if args.store_url:
        from _replicas import run as run_replicas

        try:
            run_replicas(args, queries, out, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return finish(out, args)
    try:
        data_dir = args.index_dir or tmp / "data"
        config = args.config or tmp / "ragwright.toml"
        if args.config is None:
            config.write_text("# bench/server_load.py: defaults\n", encoding="utf-8")
        out["index"] = build_index(args, data_dir, config)

        if args.peers:
            say("server load: in-process peers (Workspace.search / .ask, no HTTP) ...")
            peers = in_process_peers(args, data_dir, config, queries)
            payload = peers.pop("_payload")
            out["in_process"] = peers
        key = create_key(data_dir, config)

        client = Client(tmp / "client.log")
        bench = Bench(args, client, key, queries)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        out["cpus"] = cpus
        tc = args.target_clients if args.target_clients in args.concurrency else max(args.concurrency)

        if args.peers:
            port = free_port()
            (tmp / "payload.json").write_text(json.dumps(payload), encoding="utf-8")
            floor = start(
                [sys.executable, "-c", FLOOR_SERVER, str(port), str(tmp / "payload.json")],
                tmp / "floor.log",
                env=server_env(args),
            )
            wait_ready(floor, port, tmp / "floor.log")
            say(f"server load: HTTP floor peer (bare FastAPI + uvicorn, canned answer) at {tc} clients ...")
            bench.load(floor.pid, port, "/v1/search", tc, min(200, args.search_requests), False)  # warm-up
            out["http_floor"] = bench.load(floor.pid, port, "/v1/search", tc, args.search_requests, False)
            out["http_floor"]["clients"] = tc
            stop(floor)

        port = free_port()
        log = tmp / "server.log"
        server = start(server_cmd(args, port, data_dir, config), log, env=server_env(args))
        out["server_ready_s"] = round(wait_ready(server, port, log), 2)
        say(f"server load: server pid {server.pid} on 127.0.0.1:{port} (ready in {out['server_ready_s']} s)")

        runs: list[dict[str, Any]] = []
        for endpoint, n in (("/v1/search", args.search_requests), ("/v1/ask", args.ask_requests)):
            # Warm-up: every cycled query four times over the target number of connections, so that
            # each worker process has most likely seen it (connections stay with one worker): a steady
            # state of repeated queries is what "cycle" measures; "distinct" measures no cache at all.
            warm_n = 4 * len(queries) if endpoint == "/v1/search" else min(100, n)
            warm = bench.load(server.pid, port, endpoint, tc, warm_n, False)
            if warm["errors"]:
                say(f"server load: warm-up of {endpoint} had errors: {warm['error_kinds']} {warm['error_samples']}")
            for distinct in (False, True):
                for c in args.concurrency:
                    r = bench.load(server.pid, port, endpoint, c, n, distinct)
                    r.update(
                        endpoint=endpoint,
                        queries="distinct" if distinct else "cycle",
                        clients=c,
                        client=args.client_kind,
                        pinning="none",
                    )
                    runs.append(r)
                    say(_line(r))
                    _save(args, out | {"runs": runs})
        if not quick and args.client_kind == "raw":
            r = bench.load(server.pid, port, "/v1/search", tc, args.search_requests, False, kind="httpx")
            r.update(endpoint="/v1/search", queries="cycle", clients=tc, client="httpx", pinning="none")
            runs.append(r)
            say(_line(r))
        if args.pinning_check and len(cpus) >= 2:
            pin_process(server.pid, {cpus[0]})
            pin_process(client.proc.pid, {cpus[1]})
            try:
                r = bench.load(server.pid, port, "/v1/search", tc, args.search_requests, False)
                r.update(
                    endpoint="/v1/search",
                    queries="cycle",
                    clients=tc,
                    client=args.client_kind,
                    pinning=f"server on cpu {cpus[0]}, client on cpu {cpus[1]}",
                )
                runs.append(r)
                say(_line(r))
            finally:
                pin_process(server.pid, set(cpus))
                pin_process(client.proc.pid, set(cpus))
        out["runs"] = runs

        if args.profile:
            out["profile"] = profile(args, bench, server.pid, port, tc, pyspy, tmp)
    finally:
        stop(floor)
        stop(server)
        if client is not None:
            client.close()
        if server is not None:
            out["server_exit_code"] = server.returncode
        shutil.rmtree(tmp, ignore_errors=True)  # the logs; never --index-dir
    return finish(out, args)


def finish(out: dict[str, Any], args: argparse.Namespace) -> int:
    from _common import emit, environment

    out["targets"] = targets(out, args)
    out["machine_load"] = _LOAD.report() if _LOAD else None
    out["environment"] = environment() | {"uvicorn_extras": _uvicorn_extras(args)}
    report(out)
    emit(out)
    return 0


def _save(args: argparse.Namespace, partial: dict[str, Any]) -> None:
    if args.save:
        tmp = args.save.with_name(args.save.name + ".part")
        tmp.write_text(json.dumps(partial, indent=1), encoding="utf-8")
        tmp.replace(args.save)


def _uvicorn_extras(args: argparse.Namespace) -> dict[str, bool]:
    """Whether the server's Python finds uvloop / httptools (uvicorn uses them when it does)."""
    code = (
        "import importlib.util as u, json; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in ('uvloop', 'httptools')}))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=server_env(args))
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def _line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"] or {}
    return (
        f"  {r['endpoint']:<10} {r['queries']:<8} {r['clients']:>3} clients ({r['client']}, pinning {r['pinning']}): "
        f"{r['requests_per_s']} req/s, p50 {lat.get('p50')} ms, p99 {lat.get('p99')} ms, {r['errors']} errors; "
        f"server {r['server_cores']} cores, client {r['client_cores']} cores"
    )


# -- profile -----------------------------------------------------------------------------------------

# The leaf Python frame's file says where the CPU went (native code shows as its Python caller).
LEAF_CATEGORIES = [
    ("/ragwright/models/embedding.py", "query embedding (tokenizer + onnxruntime + pooling)"),
    ("/onnxruntime/", "query embedding (tokenizer + onnxruntime + pooling)"),
    ("/tokenizers/", "query embedding (tokenizer + onnxruntime + pooling)"),
    ("/ragwright/store/bm25.py", "BM25 scoring (numpy)"),
    ("/ragwright/store/vectors.py", "dense search (numpy / usearch)"),
    ("/usearch/", "dense search (numpy / usearch)"),
    ("/ragwright/store/traces.py", "trace writes (SQLite)"),
    ("/ragwright/store/", "SQLite queries (ragwright store)"),
    ("/sqlite3/", "SQLite queries (ragwright store)"),
    ("/ragwright/observe/", "tracing (spans)"),
    ("/ragwright/server/", "ragwright server code"),
    ("/ragwright/", "ragwright other"),
    ("/h11/", "uvicorn + h11 (HTTP parsing)"),
    ("/uvicorn/", "uvicorn + h11 (HTTP parsing)"),
    ("/fastapi/", "FastAPI"),
    ("/starlette/", "Starlette"),
    ("/pydantic", "pydantic"),
    ("/anyio/", "anyio threadpool hand-off"),
    ("/asyncio/", "asyncio event loop"),
    ("/selectors.py", "asyncio event loop"),
    ("/json/", "json"),
    ("/dataclasses.py", "dataclasses (asdict)"),
    ("/numpy/", "numpy (other)"),
    ("/threading.py", "threads, locks"),
    ("/queue.py", "threads, locks"),
    ("/concurrent/", "threads, locks"),
]
# Inclusive: a sample counts for each of these that is on its stack: (label, function, file).
# py-spy names methods Class.method; "" matches any function of the file.
INCLUSIVE = [
    ("Workspace.search (all of it)", "search", "/ragwright/workspace.py"),
    ("  HybridRetriever.search", "search", "/ragwright/retrieve/retriever.py"),
    ("    query embedding", "embed", "/ragwright/models/embedding.py"),
    ("    keyword_search (BM25 + its SQL)", "keyword_search", "/ragwright/store/search.py"),
    ("    vector_search (dense + its SQL)", "vector_search", "/ragwright/store/search.py"),
    ("      ExactIndex.search", "search", "/ragwright/store/vectors.py"),
    ("    get_chunks (fetch the results)", "get_chunks", "/ragwright/store/sqlite.py"),
    ("  save_trace (a write transaction)", "save_trace", "/ragwright/store/traces.py"),
    ("auth: principal_for (key lookup)", "principal_for", "/ragwright/server/auth.py"),
    ("result_json", "result_json", "/ragwright/server/routes.py"),
    ("audit writer thread", "_run", "/ragwright/server/audit.py"),
    ("FastAPI serialize_response", "serialize_response", "/fastapi/"),
    ("FastAPI request body + dependencies", "solve_dependencies", "/fastapi/"),
    ("anyio worker threads (all the sync endpoint)", "", "/anyio/_backends/_asyncio.py"),
    ("uvicorn h11 protocol", "", "/uvicorn/protocols/http/h11_impl.py"),
    ("uvicorn httptools protocol", "", "/uvicorn/protocols/http/httptools_impl.py"),
    ("asyncio event loop (all of the loop thread)", "_run_once", "/asyncio/base_events.py"),
]


def _frame_is(frame: str, fn: str, path: str) -> bool:
    name, _, where = frame.partition(" (")
    return path in where and (not fn or name == fn or name.endswith("." + fn))


def profile(
    args: argparse.Namespace, bench: Bench, pid: int, port: int, clients: int, pyspy: str, tmp: Path
) -> dict[str, Any]:
    """py-spy (sampling, from outside) on the server during one target-setting /v1/search run: all
    non-idle threads ("cpu"), then only the thread holding the GIL ("gil")."""
    from _common import say

    out: dict[str, Any] = {"tool": "py-spy", "rate_hz": 250, "requests": args.search_requests, "clients": clients}
    for mode in ("cpu", "gil"):
        raw = args.profile_out.with_suffix(f".{mode}.txt") if args.profile_out else tmp / f"pyspy.{mode}.txt"
        cmd = [
            pyspy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "250",
            "--nonblocking",
            "--full-filenames",
            "--format",
            "raw",
            "--output",
            str(raw),
        ] + (["--gil"] if mode == "gil" else [])
        spy = start(cmd, tmp / f"pyspy.{mode}.log")
        time.sleep(1.0)  # py-spy attaches
        if spy.poll() is not None:
            return out | {"error": (tmp / f"pyspy.{mode}.log").read_text(errors="replace")[-1000:]}
        say(f"server load: profiling the server ({mode}) under {clients} clients ...")
        r = bench.load(pid, port, "/v1/search", clients, args.search_requests, False)
        stop(spy, signal.SIGINT, timeout=60)
        stacks = _read_collapsed(raw)
        a = out[mode] = _analyse(stacks, 250, r["completed"])
        a["requests_per_s_while_profiled"] = r["requests_per_s"]
        a["server_cpu_ms_per_request"] = r["server_cpu_ms_per_request"]  # from /proc: what the samples should add to
        if mode == "cpu" and r["server_cpu_ms_per_request"]:
            a["sampled_share_of_server_cpu"] = round(
                a["sampled_cpu_ms_per_request"] / r["server_cpu_ms_per_request"], 2
            )
    return out


def _read_collapsed(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    if not path.is_file():
        return stacks
    for line in path.read_text(errors="replace").splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((frames.split(";"), int(count)))
    return stacks


def _analyse(stacks: list[tuple[list[str], int]], rate: int, requests: int) -> dict[str, Any]:
    total = sum(c for _, c in stacks)
    per_req = lambda samples: round(1000 * samples / rate / max(requests, 1), 3)  # noqa: E731
    leaf_cat: Counter[str] = Counter()
    leaf_fn: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for frames, count in stacks:
        py = [f for f in frames if "(" in f]
        leaf = py[-1] if py else frames[-1]
        leaf_fn[_short(leaf)] += count
        leaf_cat[next((name for pat, name in LEAF_CATEGORIES if pat in leaf), "other")] += count
        for name, fn, path in INCLUSIVE:
            if any(_frame_is(f, fn, path) for f in py):
                incl[name] += count
    return {
        "samples": total,
        "sampled_cpu_ms_per_request": per_req(total),
        "by_leaf_module": [
            {"what": k, "ms_per_request": per_req(v), "share": round(v / max(total, 1), 3)}
            for k, v in leaf_cat.most_common()
        ],
        "inclusive": [
            {"what": name, "ms_per_request": per_req(incl[name]), "share": round(incl[name] / max(total, 1), 3)}
            for name, _, _ in INCLUSIVE
            if incl[name]
        ],
        "top_leaf_functions": [
            {"what": k, "ms_per_request": per_req(v), "share": round(v / max(total, 1), 3)}
            for k, v in leaf_fn.most_common(25)
        ],
    }


def _short(frame: str) -> str:
    """'fn (/long/path/site-packages/pkg/mod.py:12)' -> 'fn (pkg/mod.py:12)'."""
    name, _, where = frame.partition(" (")
    for cut in ("/site-packages/", "/src/", "/lib/python3"):
        if cut in where:
            where = where.split(cut, 1)[1]
            break
    return f"{name} ({where}" if where else name


# -- targets and report ------------------------------------------------------------------------------


def targets(out: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {
        "endpoint": "/v1/search",
        "clients": args.target_clients,
        "requests_per_s_min": TARGET_RPS,
        "p99_ms_max": TARGET_P99_MS,
        "errors_max": 0,
        "note": None
        if args.corpus == "scifact" and not args.limit
        else "smoke run: not the SciFact index the target is stated for",
    }
    from _replicas import target_runs

    if args.store_url:
        res["on"] = f"{args.replicas} replicas on one PostgreSQL"
    for r in target_runs(out):
        if (r["endpoint"], r["clients"], r["pinning"], r["client"]) == (
            "/v1/search",
            args.target_clients,
            "none",
            args.client_kind,
        ):
            p99 = (r["latency_ms"] or {}).get("p99")
            res[r["queries"]] = {
                "requests_per_s": r["requests_per_s"],
                "p99_ms": p99,
                "errors": r["errors"],
                "met": bool(
                    r["requests_per_s"]
                    and r["requests_per_s"] >= TARGET_RPS
                    and p99 is not None
                    and p99 <= TARGET_P99_MS
                    and r["errors"] == 0
                ),
            }
    return res


def report(out: dict[str, Any]) -> None:
    from _common import say, table

    rows = []
    for r in out.get("runs", []):
        lat = r["latency_ms"] or {}
        rows.append(
            [
                r["endpoint"] + (f" {r['setup']} x{r['servers']}" if "setup" in r else ""),
                r["queries"],
                r["clients"],
                r["client"] + ("" if r["pinning"] == "none" else ", pinned"),
                r["completed"],
                r["errors"],
                r["requests_per_s"],
                lat.get("p50", "-"),
                lat.get("p99", "-"),
                lat.get("max", "-"),
                r["server_cpu_ms_per_request"],
                r["server_cores"],
                r["client_cpu_ms_per_request"],
                r["client_cores"],
            ]
        )
    if out.get("http_floor"):
        r = out["http_floor"]
        lat = r["latency_ms"] or {}
        rows.append(
            [
                "peer: HTTP floor",
                "cycle",
                r["clients"],
                out["settings"]["client"],
                r["completed"],
                r["errors"],
                r["requests_per_s"],
                lat.get("p50", "-"),
                lat.get("p99", "-"),
                lat.get("max", "-"),
                r["server_cpu_ms_per_request"],
                r["server_cores"],
                r["client_cpu_ms_per_request"],
                r["client_cores"],
            ]
        )
    say("")
    say(
        table(
            rows,
            [
                "endpoint",
                "queries",
                "clients",
                "client",
                "done",
                "errors",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "srv CPU ms/req",
                "srv cores",
                "cli CPU ms/req",
                "cli cores",
            ],
        )
    )
    ip = out.get("in_process")
    if ip:
        say("")
        prow = []
        for name, m in ip.items():
            if isinstance(m, dict):
                lat = m.get("latency_ms") or {}
                prow.append(
                    [
                        f"in-process {name}",
                        m["calls"],
                        m["per_s"],
                        lat.get("p50", "-"),
                        lat.get("p99", "-"),
                        m["cpu_ms_per_call"],
                        m["cores_used"],
                    ]
                )
        say(table(prow, ["peer (no HTTP)", "calls", "calls/s", "p50 ms", "p99 ms", "CPU ms/call", "cores"]))
        say("(embed_batch_N: calls/s counts queries; CPU ms/call is per batch of N)")
    prof = out.get("profile")
    if prof and "cpu" in prof:
        for mode in ("cpu", "gil"):
            p = prof.get(mode)
            if not p:
                continue
            say("")
            say(
                f"profile ({mode}: {'all non-idle threads' if mode == 'cpu' else 'the thread holding the GIL'}), "
                f"{p['sampled_cpu_ms_per_request']} sampled ms per request (server CPU from /proc: "
                f"{p['server_cpu_ms_per_request']} ms) at {p['requests_per_s_while_profiled']} req/s:"
            )
            say(
                table(
                    [[x["what"], x["ms_per_request"], f"{100 * x['share']:.1f}%"] for x in p["by_leaf_module"][:14]],
                    ["where (leaf module)", "ms/req", "share"],
                )
            )
            say(
                table(
                    [[x["what"], x["ms_per_request"], f"{100 * x['share']:.1f}%"] for x in p["inclusive"]],
                    ["inclusive", "ms/req", "share"],
                )
            )
            say(
                table(
                    [
                        [x["what"], x["ms_per_request"], f"{100 * x['share']:.1f}%"]
                        for x in p["top_leaf_functions"][:12]
                    ],
                    ["top leaf functions", "ms/req", "share"],
                )
            )
    elif prof:
        say(f"profile: {prof.get('error')}")
    if out.get("replicas"):
        rep = out["replicas"]
        say("")
        say(
            f"{rep['replicas']} replicas x {rep['replica_workers']} worker(s) on PostgreSQL over 1 SQLite server x "
            f"{rep['sqlite_workers']} workers, same run:"
        )
        say(
            table(
                [[x["queries"], x["clients"], x["requests_per_s"], x["p99"]] for x in rep["ratio_postgres_to_sqlite"]],
                ["queries", "clients", "req/s ratio", "p99 ratio"],
            )
        )
    say("")
    t = out["targets"]
    for mode in ("cycle", "distinct"):
        if mode in t:
            m = t[mode]
            say(
                f"target /v1/search at {t['clients']} clients ({mode} queries): >= {TARGET_RPS:.0f} req/s, "
                f"p99 <= {TARGET_P99_MS:.0f} ms, 0 errors: {m['requests_per_s']} req/s, p99 {m['p99_ms']} ms, "
                f"{m['errors']} errors -> {'MET' if m['met'] else 'NOT MET'}" + (f" ({t['note']})" if t["note"] else "")
            )
    from _common import say_machine_load

    say_machine_load(out.get("machine_load"))


if __name__ == "__main__":
    sys.exit(main())
