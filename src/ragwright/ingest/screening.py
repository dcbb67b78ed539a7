"""Secrets and personal data in documents, before they are chunked and indexed.

Secrets (API keys, tokens, private keys) are found with patterns and always reported when
`ingest.secrets` is "flag" or "redact"; "redact" also replaces them by `<LABEL>` so the index
never holds them. `ingest.redact_pii` ("mask" or "placeholder") replaces personal data too.
The report names labels and counts only, never the values."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Sequence

from ..config import IngestSettings
from ..types import Block, IngestReport


def screen_blocks(blocks: Sequence[Block], source: str, settings: IngestSettings,
                  report: IngestReport) -> list[Block]:
    if settings.secrets == "off" and settings.redact_pii == "off":
        return list(blocks)
    from ..guard.redact import guard_document

    pii_mode = None if settings.redact_pii == "off" else settings.redact_pii
    secrets: Counter[str] = Counter()
    pii: Counter[str] = Counter()
    out = []
    for block in blocks:
        guarded = guard_document(block.text, redact_secrets=settings.secrets == "redact", pii_mode=pii_mode,
                                 entities=settings.pii_entities if pii_mode else None)
        secrets.update(s.label for s in guarded.secrets)
        pii.update(s.label for s in guarded.pii)
        out.append(replace(block, text=guarded.text) if guarded.text != block.text else block)
    if secrets and settings.secrets != "off" or pii:
        report.flagged.append({"source": source, "secrets": dict(secrets) if settings.secrets != "off" else {},
                               "redacted_secrets": settings.secrets == "redact" and bool(secrets),
                               "pii": dict(pii)})
    return out
