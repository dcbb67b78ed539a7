"""ragwright: cited, grounded answers from your own documents.

The public API is what this module exports; everything else may change between releases.
"""

from .config import Settings, load_settings
from .errors import ConfigError, IngestError, ModelError, NotFoundError, QuestionError, RagwrightError, StoreError
from .ingest import TextRecord
from .types import Answer, Citation, DocumentRecord, FailedFile, IngestReport, SearchResult
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Citation",
    "ConfigError",
    "DocumentRecord",
    "FailedFile",
    "IngestError",
    "IngestReport",
    "ModelError",
    "NotFoundError",
    "QuestionError",
    "RagwrightError",
    "SearchResult",
    "Settings",
    "StoreError",
    "TextRecord",
    "Workspace",
    "load_settings",
]
