"""Guardrails: PII detection and redaction (mask, placeholder, reversible pseudonyms), secrets,
and prompt-injection detection for user messages and retrieved chunks.

Imports are lazy: `import ragwright.guard` does not load Presidio, spaCy or the name tagger.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PiiDetector": "pii", "PiiSpan": "pii", "default_detector": "pii", "resolve": "pii",
    "Pseudonymizer": "redact", "redact": "redact", "find_secrets": "redact", "guard_document": "redact",
    "GuardedText": "redact",
    "InjectionDetector": "injection", "InjectionVerdict": "injection",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ragwright.guard' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
