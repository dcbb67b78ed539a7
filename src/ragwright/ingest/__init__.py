"""Ingestion: files and text records -> parsed blocks -> chunks -> embedded, stored documents."""

from .chunking import Chunker, split_sentences
from .discover import discover
from .parsers import FORMATS, ParseError, parse
from .pipeline import Ingestor, TextRecord, doc_id_for

__all__ = [
    "FORMATS",
    "Chunker",
    "Ingestor",
    "ParseError",
    "TextRecord",
    "discover",
    "doc_id_for",
    "parse",
    "split_sentences",
]
