"""Guardrails: PII detection and redaction (mask, placeholder, reversible pseudonyms), secrets,
and prompt-injection detection for user messages and retrieved chunks.

Imports are lazy: `import ragwright.guard` does not load Presidio, spaCy or the name tagger.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "PiiDetector": "pii",
    "PiiSpan": "pii",
    "default_detector": "pii",
    "resolve": "pii",
    "Pseudonymizer": "redact",
    "redact": "redact",
    "find_secrets": "redact",
    "guard_document": "redact",
    "GuardedText": "redact",
    "InjectionDetector": "injection",
    "InjectionVerdict": "injection",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
