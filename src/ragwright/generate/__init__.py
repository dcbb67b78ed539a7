"""Generation: cited answers from retrieved chunks, extractive or from a configured model."""

from .answerer import Answerer
from .citations import find_markers
from .grounded import build_messages

__all__ = ["Answerer", "build_messages", "find_markers"]
