"""Structure-aware chunking: sections follow headings, chunks follow paragraphs, then sentences,
then words; each chunk stays within a token budget, and neighbours in a section overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ..types import Block, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """A sentence splitter that needs no model: ends at . ! ? before a capital or digit."""
    parts = []
    for line in re.split(r"\n\s*\n", text):
        parts.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return parts


def approx_token_count(texts: Sequence[str]) -> list[int]:
    """For embedders without a local tokenizer: word pieces run about 1.3 per word."""
    return [int(len(t.split()) * 1.3) + 1 for t in texts]


@dataclass(slots=True)
class _Section:
    heading_path: list[str]
    page: int | None
    units: list[str]


@dataclass(slots=True)
class Chunker:
    count_tokens: TokenCounter = approx_token_count
    max_tokens: int = 240
    overlap_tokens: int = 32

    def chunk(self, doc_id: str, blocks: Sequence[Block], title: str = "") -> list[Chunk]:
        """Chunks whose indexed text (title and headings, then the text) fits `max_tokens`."""
        chunks: list[Chunk] = []
        for section in _sections(blocks):
            probe = Chunk("", doc_id, 0, "", section.heading_path)
            prefix = probe.context_text(title).strip()
            reserve = self.count_tokens([prefix])[0] + 1 if prefix else 0
            budget = max(self.max_tokens - reserve, min(32, self.max_tokens))
            for text in self._pack(section.units, budget):
                chunks.append(
                    Chunk(
                        chunk_id=f"{doc_id}#{len(chunks)}",
                        doc_id=doc_id,
                        ordinal=len(chunks),
                        text=text,
                        heading_path=list(section.heading_path),
                        page=section.page,
                    )
                )
        return chunks

    def _pack(self, paragraphs: list[str], budget: int) -> list[str]:
        pieces = self._pieces(paragraphs, budget)
        if not pieces:
            return []
        sizes = self.count_tokens([p for p, _ in pieces])
        out: list[str] = []
        current: list[tuple[str, int, bool]] = []  # (text, tokens, starts_paragraph)
        used = 0
        for (text, starts_para), size in zip(pieces, sizes):
            if current and used + size > budget:
                out.append(_join(current))
                current, used = self._overlap(current)
                while current and used + size > budget:  # the overlap must leave room for the piece
                    used -= current.pop(0)[1]
            current.append((text, size, starts_para))
            used += size
        if current:
            out.append(_join(current))
        return out

    def _overlap(self, current: list[tuple[str, int, bool]]) -> tuple[list[tuple[str, int, bool]], int]:
        """The trailing sentences of the previous chunk that fit the overlap budget."""
        kept: list[tuple[str, int, bool]] = []
        used = 0
        for item in reversed(current):
            if used + item[1] > self.overlap_tokens:
                break
            kept.insert(0, item)
            used += item[1]
        if len(kept) == len(current):  # never repeat a whole chunk
            kept, used = [], 0
        return kept, used

    def _pieces(self, paragraphs: list[str], budget: int) -> list[tuple[str, bool]]:
        """Paragraphs that fit stay whole; longer ones split into sentences, then word windows."""
        sizes = self.count_tokens(paragraphs) if paragraphs else []
        pieces: list[tuple[str, bool]] = []
        for para, size in zip(paragraphs, sizes):
            if size <= budget:
                pieces.append((para, True))
                continue
            sentences = split_sentences(para)
            for i, (sent, ssize) in enumerate(zip(sentences, self.count_tokens(sentences))):
                if ssize <= budget:
                    pieces.append((sent, i == 0))
                else:
                    pieces.extend((w, i == 0 and j == 0) for j, w in enumerate(self._word_windows(sent, budget)))
        return pieces

    def _word_windows(self, text: str, budget: int) -> list[str]:
        """Greedy windows of whole words; words are counted one by one, so every window fits."""
        words = text.split()
        windows: list[str] = []
        current: list[str] = []
        used = 0
        for word, size in zip(words, self.count_tokens(words)):
            if current and used + size > budget:
                windows.append(" ".join(current))
                current, used = [], 0
            current.append(word)
            used += size
        if current:
            windows.append(" ".join(current))
        return windows


def _join(items: list[tuple[str, int, bool]]) -> str:
    out = ""
    for text, _, starts_para in items:
        out += ("\n\n" if starts_para else " ") + text if out else text
    return out


def _sections(blocks: Sequence[Block]) -> list[_Section]:
    """Group blocks under their heading path; a page change starts a new section too."""
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    current: _Section | None = None
    for block in blocks:
        if block.kind == "heading":
            path = [(lvl, t) for lvl, t in path if lvl < block.level] + [(block.level, block.text)]
            current = None
            continue
        heading_path = [t for _, t in path]
        if current is None or current.page != block.page:
            current = _Section(heading_path, block.page, [])
            sections.append(current)
        current.units.append(block.text)
    return [s for s in sections if s.units]
