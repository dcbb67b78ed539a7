"""What the slot tests share (server/ask_slots.py: asks and gateway chats): a provider that answers
slowly, or hugely, when a message says so; a live server whose tenants each hold one slot of a
kind; and the wait for a tenant's slot to come back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.provider_server import ProviderServer, text_of
from tests.server.live import LiveServer

WAIT_S = 1.0  # [server] {kind}_wait_s
STALL_S = 2  # [server] stream_stall_s
HUGE = " ".join("x" * 8000 for _ in range(600))  # ~4.8 MB in 600 tokens: more than the buffers hold


def provider_reply(text: str, slow_s: float) -> Callable[[dict], str]:
    """The provider's reply: `text`, after `slow_s` when a message says "slow" (its handler thread
    sleeps, the others answer), HUGE when one says "huge"."""

    def reply(body: dict) -> str:
        said = " ".join(text_of(m.get("content")) for m in body.get("messages", []))
        if "slow" in said:
            time.sleep(slow_s)
        return HUGE if "huge" in said else text

    return reply


@contextmanager
def one_slot_each(
    root: Path, provider: ProviderServer, kind: str, answer: str, text: str, uploaders: tuple[str, ...]
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """A live server with tenants acme and beta (read and write keys), each holding one `kind`
    slot ("ask" or "chat") of 4; `answer`: the [answer] section's lines; `text` uploaded as
    travel.md by each tenant of `uploaders`."""
    config = root / "ragwright.toml"
    config.write_text(
        f"[answer]\n{answer}\n\n"
        f'[models.fake]\nbase_url = "{provider.base_url}/v1"\n'
        'model = "m"\ntimeout_s = 60\n\n[gateway]\nmax_retries = 0\ncache = false\n\n'
        f"[server]\n{kind}_threads = 4\n{kind}_threads_per_tenant = 1\n{kind}_wait_s = {WAIT_S}\n"
        f"stream_stall_s = {STALL_S}\n"
    )
    server = LiveServer(root / "data", config)
    keys = {t: server.key(t, "read,write") for t in ("acme", "beta")}
    server.start()
    try:
        for tenant in uploaders:
            with server.client(keys[tenant]) as c:
                up = c.post("/v1/documents", files=[("file", ("travel.md", b"# Travel\n" + text.encode()))])
                assert server.wait_job(c, up.json()["job_id"])["status"] == "done"
        yield server, keys
    finally:
        server.stop()


def slot_back_within(request: Callable[[], httpx.Response], seconds: float, kind: str) -> float:
    """How long until `request` (an ask or a chat of one tenant's) is answered 200: its only slot
    is free again. Until then each answer must be 503 busy."""
    started = time.monotonic()
    while True:
        res = request()
        if res.status_code == 200:
            return time.monotonic() - started
        assert res.status_code == 503 and res.json()["error"]["type"] == "busy", res.text[:300]
        assert time.monotonic() - started < seconds, f"the tenant's {kind} slot did not come back"
