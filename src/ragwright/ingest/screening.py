"""Secrets and personal data in documents, before they are chunked and indexed.

Secrets (API keys, tokens, private keys) are found with patterns and always reported when
`ingest.secrets` is "flag" or "redact"; "redact" also replaces them by `<LABEL>` so the index
never holds them. `ingest.redact_pii` ("mask" or "placeholder") replaces personal data too.
The report names each secret by type and line (the page of a PDF), personal data by type and
count, and never a value: a report is printed, logged and sent to API clients."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import IngestSettings
from ..types import Block, IngestReport

if TYPE_CHECKING:
    from ..guard.pii import PiiSpan

SECRET_TYPES = {
    "API_KEY": "API key",
    "AWS_ACCESS_KEY": "AWS access key",
    "GITHUB_TOKEN": "GitHub token",
    "SLACK_TOKEN": "Slack token",
    "JWT": "JSON Web Token",
    "PRIVATE_KEY": "private key",
    "SECRET": "password or secret assigned to a name",
}
_MAX_REREAD = 64 * 1024 * 1024  # a file to find line numbers in is read again only up to this size


def screen_blocks(blocks: Sequence[Block], source: str, settings: IngestSettings, report: IngestReport) -> list[Block]:
    if settings.secrets == "off" and settings.redact_pii == "off":
        return list(blocks)
    from ..guard.redact import guard_document

    pii_mode = None if settings.redact_pii == "off" else settings.redact_pii
    secrets: list[tuple[Block, PiiSpan]] = []
    pii: Counter[str] = Counter()
    out = []
    for block in blocks:
        guarded = guard_document(
            block.text,
            redact_secrets=settings.secrets == "redact",
            pii_mode=pii_mode,
            entities=settings.pii_entities if pii_mode else None,
        )
        secrets += [(block, s) for s in guarded.secrets]
        pii.update(s.label for s in guarded.pii)
        out.append(replace(block, text=guarded.text) if guarded.text != block.text else block)
    if settings.secrets == "off":
        secrets = []
    if secrets or pii:
        report.flagged.append(
            {
                "source": source,
                "secrets": dict(Counter(s.label for _, s in secrets)),
                "redacted_secrets": settings.secrets == "redact" and bool(secrets),
                "pii": dict(pii),
                "found": locate(source, blocks, secrets),
            }
        )
    return out


def locate(source: str, blocks: Sequence[Block], secrets: Sequence[tuple[Block, PiiSpan]]) -> list[dict[str, Any]]:
    """Each secret's type, line and page, in document order. Parsers keep no source positions, so
    the line is where the secret's first line occurs in the file itself (read again, which happens
    only for a document with findings), or in the text given when the source is not a file. A
    value the raw file does not hold as written (a DOCX, an HTML entity) has no line; a PDF's
    block gives its page instead."""
    lines = _Lines(_raw_text(source, blocks) if any(b.page is None for b, _ in secrets) else b"")
    found = []
    for block, span in secrets:
        line = None if block.page is not None else lines.find(_needles(span.text))
        found.append(
            {
                "type": SECRET_TYPES.get(span.label, span.label.replace("_", " ").lower()),
                "label": span.label,
                "line": line,
                "page": block.page,
            }
        )
    return found


class _Lines:
    """Line numbers of successive finds in one text, counted once: a 50 MB file with thousands of
    secrets is not re-counted from its start for each."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.after: dict[bytes, int] = {}  # the same value twice: the second occurrence is further on
        self.pos, self.line = 0, 1

    def find(self, needles: Sequence[str]) -> int | None:
        """The line of the first of `needles` found (after its previous find)."""
        for value in needles:
            needle = value.encode("utf-8")
            at = self.raw.find(needle, self.after.get(needle, 0)) if needle else -1
            if at >= 0:
                return self._line_at(needle, at)
        return None

    def _line_at(self, needle: bytes, at: int) -> int:
        self.after[needle] = at + len(needle)
        if at < self.pos:
            self.pos, self.line = 0, 1
        self.line += self.raw.count(b"\n", self.pos, at)
        self.pos = at
        return self.line


def _needles(value: str) -> list[str]:
    """What to look for in the file: the value's first line, then its first word. Parsers join a
    paragraph's lines with spaces, so a PEM block arrives as one line the file does not hold."""
    first = value.strip().splitlines()[0][:200] if value.strip() else ""
    word = first.split()[0] if first.split() else ""
    return [first] + ([word] if word != first and len(word) >= 8 else [])


def _raw_text(source: str, blocks: Sequence[Block]) -> bytes:
    path = Path(source)
    try:
        if os.path.isabs(source) and path.is_file() and path.stat().st_size <= _MAX_REREAD:
            return path.read_bytes()
    except OSError:
        return b""
    return "\n\n".join(b.text for b in blocks).encode("utf-8")


def describe(found: dict[str, Any]) -> str:
    """One flagged document as a person reads it: "AWS access key on line 3, private key on page 2,
    2 EMAIL_ADDRESS" (types and places, never values)."""
    parts = []
    for item in found.get("found", []):
        where = (
            f" on line {item['line']}" if item.get("line") else f" on page {item['page']}" if item.get("page") else ""
        )
        parts.append(item["type"] + where)
    parts += [f"{n} {label}" for label, n in found.get("pii", {}).items()]
    return ", ".join(parts)
