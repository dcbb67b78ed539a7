"""ragwright: cited, grounded answers from your own documents.

The public API is what this module exports; everything else may change between releases.
Names are imported on first use, so that `import ragwright.models.gateway` (or the CLI's
`--help`) does not pay for the retrieval stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Settings": "config", "load_settings": "config",
    "ConfigError": "errors", "IngestError": "errors", "ModelError": "errors", "NotFoundError": "errors",
    "QuestionError": "errors", "RagwrightError": "errors", "StoreError": "errors",
    "TextRecord": "ingest",
    "Answer": "types", "Citation": "types", "DocumentRecord": "types", "FailedFile": "types",
    "IngestReport": "types", "SearchResult": "types",
    "Workspace": "workspace",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ragwright' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .errors import ConfigError, IngestError, ModelError, NotFoundError, QuestionError, RagwrightError, StoreError
    from .ingest import TextRecord
    from .types import Answer, Citation, DocumentRecord, FailedFile, IngestReport, SearchResult
    from .workspace import Workspace
