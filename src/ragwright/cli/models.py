"""`ragwright chat`, `ragwright models ...` and `ragwright usage`: the model gateway from the
command line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import AllModelsFailed, StreamInterrupted
from .common import EXIT_ERROR, ConfigFile, DataDir, Json, emit, err, guarded, out, workspace

if TYPE_CHECKING:  # imported lazily at run time: the CLI starts without loading the gateway
    from ..models import ChatMessage, Gateway

models_app = typer.Typer(no_args_is_help=True, help="Configured models and routes; the local SmolLM2 server.")


def chat(
    prompt: Annotated[str, typer.Argument(help="The prompt ('-' reads standard input)")],
    model: Annotated[str, typer.Option("--model", "-m", help="A route or model from ragwright.toml")] = "default",
    system: Annotated[str | None, typer.Option(help="System prompt")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest reply, in tokens")] = 512,
    temperature: Annotated[float, typer.Option(min=0, max=2)] = 0.0,
    stream: Annotated[bool, typer.Option("--stream", help="Print the reply as it arrives")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not answer from the cache")] = False,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Send a prompt through the gateway (routes, fallbacks, retries, cache, costs)."""
    from ..models import ChatMessage

    text = sys.stdin.read() if prompt == "-" else prompt
    messages = ([ChatMessage("system", system)] if system else []) + [ChatMessage("user", text)]
    with workspace(data_dir, config) as ws:
        gw = ws.gateway  # closed with the workspace
        try:
            if stream:
                _stream(gw, messages, model, max_tokens, temperature, not no_cache, as_json)
                return
            with ws.trace("chat", {"model": model, "messages": [m.content for m in messages]}) as t:
                result = gw.chat(
                    messages, model=model, max_tokens=max_tokens, temperature=temperature, use_cache=not no_cache
                )
                if t is not None:
                    t.output = {"text": result.text, "model": result.model}
        except AllModelsFailed as exc:
            _failed(exc, as_json)
    if as_json:
        emit(result.to_dict())
        return
    out.print(result.text, markup=False)
    err.print(
        f"[{result.model}{', cached' if result.cached else ''}] {result.usage.input_tokens} in, "
        f"{result.usage.output_tokens} out, {result.cost_usd:.6f} USD, {result.latency_ms:.0f} ms",
        markup=False,
    )


def _stream(
    gw: Gateway,
    messages: list[ChatMessage],
    model: str,
    max_tokens: int,
    temperature: float,
    use_cache: bool,
    as_json: bool,
) -> None:
    chat_stream = gw.stream(messages, model=model, max_tokens=max_tokens, temperature=temperature, use_cache=use_cache)
    try:
        for piece in chat_stream:
            if as_json:
                emit({"delta": piece})
            else:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except StreamInterrupted as exc:
        if as_json:
            partial = chat_stream.result.to_dict() if chat_stream.result is not None else {"text": chat_stream.text}
            emit({**partial, "incomplete": True, "error": str(exc)})
        else:
            sys.stdout.write("\n")
            err.print(f"error: {exc}", markup=False)
        raise typer.Exit(EXIT_ERROR) from None
    result = chat_stream.result
    assert result is not None  # a stream that ran to its end holds its result
    if as_json:
        emit({**result.to_dict(), "incomplete": False})
    else:
        sys.stdout.write("\n")
        err.print(
            f"[{result.model}{', cached' if result.cached else ''}] {result.usage.output_tokens} tokens out, "
            f"{result.cost_usd:.6f} USD",
            markup=False,
        )


def _failed(exc: AllModelsFailed, as_json: bool) -> None:
    if as_json:
        emit({"error": str(exc), "attempts": [a.to_dict() for a in exc.attempts]})
    else:
        err.print(f"error: no model answered for '{exc.route}':", markup=False)
        for a in exc.attempts:
            err.print(f"  {a.model}: {a.status}: {a.error}", markup=False)
    raise typer.Exit(EXIT_ERROR) from None


@models_app.command("list")
@guarded
def models_list(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """The configured models and routes."""
    with workspace(data_dir, config) as ws:
        settings = ws.settings
    models = {n: m.model_dump(mode="json") for n, m in settings.models.items()}
    routes = {n: r.model_dump(mode="json") for n, r in settings.routes.items()}
    if as_json:
        emit({"models": models, "routes": routes})
        return
    for name, m in models.items():
        where = m["base_url"] or m["provider"]
        out.print(
            f"model {name}: {m['provider']} {m['model']} at {where}, {m['input_price_per_mtok']}/"
            f"{m['output_price_per_mtok']} USD per M tokens in/out, timeout {m['timeout_s']} s",
            markup=False,
        )
    for name, r in routes.items():
        out.print(f"route {name}: {' -> '.join(r['models'])} ({r['strategy']})", markup=False)
    if not models:
        err.print("no models configured: add [models.NAME] sections to ragwright.toml (see: ragwright init)")


@models_app.command("serve-local")
@guarded
def serve_local(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port")] = 8011,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads")] = None,
    n_ctx: Annotated[int, typer.Option("--ctx", min=256, help="Context window")] = 2048,
) -> None:
    """Serve the bundled SmolLM2-135M over the OpenAI protocol until Ctrl-C; meanwhile ragwright's own
    calls to models with provider = "local" use this server too."""
    from ..models import local_shared
    from ..models.local_server import LocalModelServer

    server = LocalModelServer(port=port, threads=threads, n_ctx=n_ctx, state=local_shared.state_paths()).start()
    local_shared.register(server)
    err.print(
        f'serving {server.model} at {server.base_url} (Ctrl-C stops it); models with provider = "local" '
        f"use it too. For other clients, or in ragwright.toml:\n\n"
        f'[models.local]\nprovider = "openai"\nbase_url = "{server.base_url}"\nmodel = "{server.model}"\n'
        'json_mode = "json_object"\n',
        markup=False,
    )
    code = server.wait()
    if code not in (0, -15):
        raise typer.Exit(EXIT_ERROR)


@models_app.command("stop-local")
@guarded
def stop_local() -> None:
    """Stop the shared SmolLM2 server that provider = "local" models use (it also stops by itself
    after their keep_alive_s without a request)."""
    from ..models.local_shared import stop_shared

    pid = stop_shared()
    err.print(f"stopped the local model server (pid {pid})" if pid else "no local model server was running")


def usage(
    by: Annotated[str, typer.Option(help="route, model, key or tenant")] = "route",
    since: Annotated[str, typer.Option(help="hour, day, month or all")] = "all",
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Calls, tokens and cost recorded by the gateway."""
    from ..models.ledger import period_start

    column = {"route": "route", "model": "model", "key": "key_id", "tenant": "tenant"}.get(by)
    if column is None or since not in ("hour", "day", "month", "all"):
        raise ValueError("--by must be route, model, key or tenant; --since hour, day, month or all")
    with workspace(data_dir, config) as ws:
        rows = ws.store.usage_summary(column, period_start(since) if since != "all" else 0.0)
    if as_json:
        emit({"by": by, "since": since, "rows": rows})
        return
    for r in rows:
        out.print(
            f"{r[column] or '-':20} {r['calls']:6} calls {r['input_tokens']:9} in {r['output_tokens']:9} out "
            f"{r['cost_usd']:.6f} USD  {r['cached']} cached  {r['errors']} failed",
            markup=False,
        )
    if not rows:
        err.print(f"no model calls recorded{'' if since == 'all' else ' since the start of this ' + since}")
