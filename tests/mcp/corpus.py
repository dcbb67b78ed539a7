"""One data dir for the MCP tests: three documents that three readers must see differently.

acme, no groups: the vacation policy (every acme key reads it); acme, group "hr": the salary
bands; globex: its launch plan. Both secrets mention the word "zorblax", which the open
document does not: a search or an answer that shows it to the wrong key has leaked."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio

from ragwright import Settings, Workspace
from ragwright.types import Access

T = TypeVar("T")
OPEN = "Full-time employees receive 25 days of paid vacation per calendar year."
HR_SECRET = "The zorblax salary band for senior engineers is 91000 euros per year."
GLOBEX_SECRET = "The zorblax launch of Globex happens on the ninth of March."
SECRETS = {"vacation": "25 days", "salaries": "91000", "globex": "ninth of March"}  # words only each has


def make_data_dir(root: Path, embedder: Any) -> dict[str, str]:
    """Ingest the three documents; returns their ids by name."""
    docs = root / "docs"
    ids: dict[str, str] = {}
    ws = Workspace(settings=Settings(data_dir=root / "data"), embedder=embedder)
    with ws:
        for name, text, access in (
            ("vacation", OPEN, Access("acme")),
            ("salaries", HR_SECRET, Access("acme", ("hr",))),
            ("globex", GLOBEX_SECRET, Access("globex")),
        ):
            path = docs / access.tenant / f"{name}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"# {name.title()}\n\n{text}\n", encoding="utf-8")
            report = ws.ingest([path], access=access)
            ids[name] = report.doc_ids[0]
    return ids


def run(fn: Callable[[], Awaitable[T]], timeout: float = 240) -> T:
    """An async test body, bounded: a hung transport fails the test instead of the session."""

    async def bounded() -> T:
        with anyio.fail_after(timeout):
            return await fn()

    return anyio.run(bounded)


def payload(result: Any) -> dict[str, Any]:
    """A tool result's JSON: its structured content, which its text content repeats."""
    assert json.loads(result.content[0].text) == result.structured_content
    return dict(result.structured_content)
