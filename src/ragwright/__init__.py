"""ragwright: cited, grounded answers from your own documents.

The public API is what this module exports; everything else may change between releases.
Names are imported on first use, so that `import ragwright.models.gateway` (or the CLI's
`--help`) does not pay for the retrieval stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from .config import Settings, load_settings
    from .errors import ConfigError, IngestError, ModelError, NotFoundError, QuestionError, RagwrightError, StoreError
    from .ingest import TextRecord
    from .types import Answer, Citation, DocumentRecord, FailedFile, IngestReport, SearchResult
    from .workspace import Workspace
