"""Errors a person can act on: each names what went wrong and, where it helps, what to do."""

from __future__ import annotations


class RagwrightError(Exception):
    """Base class: every error ragwright raises on purpose derives from it."""


class ConfigError(RagwrightError):
    """A configuration file or environment variable holds a key or value that is not allowed."""


class IngestError(RagwrightError):
    """One file could not be ingested; the others go on."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class QuestionError(RagwrightError, ValueError):
    """A question or query that cannot be answered as given (empty, too long)."""


class ModelError(RagwrightError):
    """A configured model or embedding endpoint failed or could not be reached."""


class StoreError(RagwrightError):
    """The store cannot be opened or written (schema too new, disk full, locked)."""


class NotFoundError(RagwrightError, LookupError):
    """A document id or path that the store does not hold."""
