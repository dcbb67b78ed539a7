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
    "Settings": "config",
    "load_settings": "config",
    "ConfigError": "errors",
    "IngestError": "errors",
    "ModelError": "errors",
    "NotFoundError": "errors",
    "QuestionError": "errors",
    "RagwrightError": "errors",
    "StoreError": "errors",
    "TextRecord": "ingest",
    "Answer": "types",
    "Citation": "types",
    "DocumentRecord": "types",
    "FailedFile": "types",
    "IngestReport": "types",
    "SearchResult": "types",
    "Workspace": "workspace",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    # `X as X`: re-exported for type checkers (the names are loaded lazily at run time)
    from .config import Settings as Settings
    from .config import load_settings as load_settings
    from .errors import ConfigError as ConfigError
    from .errors import IngestError as IngestError
    from .errors import ModelError as ModelError
    from .errors import NotFoundError as NotFoundError
    from .errors import QuestionError as QuestionError
    from .errors import RagwrightError as RagwrightError
    from .errors import StoreError as StoreError
    from .ingest import TextRecord as TextRecord
    from .types import Answer as Answer
    from .types import Citation as Citation
    from .types import DocumentRecord as DocumentRecord
    from .types import FailedFile as FailedFile
    from .types import IngestReport as IngestReport
    from .types import SearchResult as SearchResult
    from .workspace import Workspace as Workspace
