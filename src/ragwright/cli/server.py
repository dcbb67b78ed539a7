"""`ragwright serve`, `ragwright keys ...` and `ragwright audit`."""

from __future__ import annotations

import os
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import ConfigFile, DataDir, Json, emit, err, guarded, out, workspace

keys_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP server (only their hashes are stored).")


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    graceful_s: Annotated[
        float, typer.Option("--graceful-timeout", help="Seconds to finish in-flight requests on shutdown")
    ] = 30.0,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes (one per core serves the most requests; each holds its own index)"
        ),
    ] = 1,
) -> None:
    """Serve the REST and OpenAI-compatible API (OpenAPI at /openapi.json) until Ctrl-C or SIGTERM."""
    import uvicorn

    from ..ingest.doc_ids import id_key
    from ..server import create_app
    from ..server.http_protocol import server_options

    app = create_app(data_dir, config_file=config)  # also checks the data dir and config before forking
    app.state.rw.ws.store.get_meta("generation")  # the store opens now: unreachable, it is an error and exit 2
    id_key(app.state.rw.ws.store)  # before the workers fork: all of them key document ids alike
    where = app.state.rw.ws.settings.data_dir
    err.print(
        f"ragwright serving {where} on http://{host}:{port}"
        + (f" with {workers} workers" if workers > 1 else "")
        + " (create a key: ragwright keys create --tenant T --scopes read)"
    )
    options: dict[str, Any] = dict(
        host=host, port=port, log_level="warning", timeout_graceful_shutdown=graceful_s, access_log=False
    )
    options.update(server_options(app.state.rw.ws.settings.server))  # max_connections, the headers' deadline
    if workers == 1:
        uvicorn.run(app, **options)
        return
    app.state.rw.ws.close()
    for stale in Path(where).glob("query-vectors.db*"):  # query vectors live as long as one server run
        stale.unlink(missing_ok=True)
    # Requests already run side by side in the workers: BLAS threads on top would only contend.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # (numpy products in the answerer, the adapter)
    os.environ.update(
        RAGWRIGHT_SERVE_DATA_DIR=str(Path(where).resolve()),
        RAGWRIGHT_SERVE_WORKERS=str(workers),
        RAGWRIGHT_SERVE_CONFIG=str(Path(config).resolve()) if config else "",
    )
    from ..server.workers import run_workers

    run_workers(host, port, workers, options, graceful_s)


@keys_app.command("create")
@guarded
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin")] = "read",
    groups: Annotated[str, typer.Option(help="Comma-separated groups the key belongs to")] = "",
    name: Annotated[str, typer.Option(help="A label for people")] = "",
    rate: Annotated[int | None, typer.Option(min=1, help="Requests per minute (default: none)")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Create a key and print it once."""
    from ..server.auth import create_key

    with workspace(data_dir, config) as ws:
        key = create_key(
            ws.store, tenant, [s.strip() for s in scopes.split(",") if s.strip()], groups.split(","), name, rate
        )
    if as_json:
        emit(key)
        return
    out.print(key["key"], markup=False)
    err.print(
        f"key {key['id']} for tenant '{key['tenant']}', scopes {','.join(key['scopes'])}, groups "
        f"{','.join(key['groups']) or '(none)'}: it is shown only now"
    )


@keys_app.command("list")
@guarded
def keys_list(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """Every key (never the key itself)."""
    with workspace(data_dir, config) as ws:
        keys = ws.store.list_api_keys()
    if as_json:
        emit({"keys": keys})
        return
    for k in keys:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        out.print(
            f"{k['key_id']}  {k['tenant']:12} {','.join(k['scopes']):16} {','.join(k['groups']) or '-':20} "
            f"{state}  {k['name']}",
            markup=False,
        )


@keys_app.command("revoke")
@guarded
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see: ragwright keys list)")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Revoke a key: every request with it fails from now on."""
    from ..errors import NotFoundError

    with workspace(data_dir, config) as ws:
        if not ws.store.revoke_api_key(key_id):
            raise NotFoundError(f"no active key '{key_id}' (see: ragwright keys list)")
    err.print(f"revoked {key_id}")


def audit(
    limit: Annotated[int, typer.Option(min=1, help="Most recent N requests")] = 50,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Requests the server recorded: time, key, tenant, endpoint, status, documents touched."""
    from datetime import datetime

    with workspace(data_dir, config) as ws:
        rows = ws.store.list_audit(limit, tenant)
    if as_json:
        emit({"requests": rows})
        return
    for r in rows:
        when = datetime.fromtimestamp(r["at"], UTC).isoformat(timespec="seconds")
        docs = ",".join(r["doc_ids"][:5]) + ("..." if len(r["doc_ids"]) > 5 else "")
        # a row of requests without a valid key stands for `count` of them in its minute, from `client`
        times = f" x{r['count']}" if (r.get("count") or 1) > 1 else ""
        source = f" from {r['client']}" if r.get("client") and not r["key_id"] else ""
        out.print(
            f"{when} {r['key_id'] or '-':16} {r['tenant'] or '-':10} {r['method']:6} {r['endpoint']:24} "
            f"{r['status']}{times} {r['latency_ms']:.0f} ms {docs}{source}",
            markup=False,
        )
