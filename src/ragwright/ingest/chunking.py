"""Structure-aware chunking: sections follow headings, chunks follow paragraphs, then sentences,
then words; each chunk stays within a token budget, and neighbours in a section overlap.

A chunk also stays within MAX_BYTES_PER_TOKEN UTF-8 bytes per token of its budget, and a word too
long for a chunk is cut into pieces: the embedder's WordPiece count makes any word over 100
characters, or a run of characters outside its vocabulary (emoji, base64), ONE token, so a 120 KB
run without a space was one "240-token" chunk that every ask retrieving it sent whole to the answer
model. Ordinary text stays well under the byte budget (SciFact and the pgdocs pages: at most 7.6
bytes a token, 1,410 bytes, in any chunk of 240 tokens).

Code blocks and tables are never cut into sentences: one that fits a chunk stays whole (a chunk
ends early rather than split it), a longer one is cut at line boundaries (a table's header row
starts every piece). In chunk text a code block is fenced with ``` so that what reads the chunk
later (sentence splitting, answers) can tell code from prose."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from ..types import Block, Chunk

TokenCounter = Callable[[Sequence[str]], list[int]]
T = TypeVar("T")

# Part of every ingested file's recipe: raise it when parsing or chunking changes the text that is
# stored, so that files ingested before are parsed again instead of being skipped as unchanged.
# 2: main content only, text as written, code blocks and tables kept whole (issue 17).
# 3: a one-column table's cell of a few paragraphs is one entry, "name: description example".
# 4: ... only when the table has no text outside its cells (3 lost rows inside a <form>, a <div>
#    in a row, text written straight into the table).
# 5: chunks are bounded in bytes too (a long run without spaces is cut into pieces); a sentence
#    keeps the closing quotes and brackets after its full stop (they were dropped).
EXTRACTION_VERSION = 5
MAX_BYTES_PER_TOKEN = 8

# the closing quotes and brackets after a sentence's end are captured: they stay with it
_SENTENCE_END = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")
_FENCE = re.compile(r"^(`{3,}|~{3,})")


def split_sentences(text: str) -> list[str]:
    """A sentence splitter that needs no model: ends at . ! ? before a capital or digit. A fenced
    code block is one unit, whole; a run of table rows (every line has " | ") is one unit a row."""
    parts: list[str] = []
    for unit, verbatim in _fenced_units(text):
        if verbatim:
            parts.append(unit)
            continue
        for para in re.split(r"\n\s*\n", unit):
            lines = [ln.strip() for ln in para.strip().split("\n")]
            if len(lines) > 1 and all(" | " in ln for ln in lines):
                parts.extend(lines)
            else:
                parts.extend(s.strip() for s in _sentences(para) if s.strip())
    return parts


def _sentences(para: str) -> list[str]:
    """The paragraph cut at sentence ends, each sentence with its closing quotes or brackets."""
    cut = _SENTENCE_END.split(para)  # sentence, its closers, sentence, its closers, ..., sentence
    return [cut[i] + (cut[i + 1] if i + 1 < len(cut) else "") for i in range(0, len(cut), 2)]


def fence(code: str) -> str:
    """A code block as chunk text: between ``` lines (longer ones if the code holds a fence)."""
    runs = [len(m.group(1)) for m in map(_FENCE.match, code.split("\n")) if m and m.group(1)[0] == "`"]
    marks = "`" * max([3, *(n + 1 for n in runs)])
    return f"{marks}\n{code}\n{marks}"


def _fenced_units(text: str) -> list[tuple[str, bool]]:
    """The text cut into (prose, False) and (fenced code block, True), in order."""
    units: list[tuple[str, bool]] = []
    prose: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i].strip())
        end = (
            next((j for j in range(i + 1, len(lines)) if lines[j].strip() == opening.group(1)), None)
            if opening
            else None
        )
        if end is None:
            prose.append(lines[i])
            i += 1
            continue
        if prose:
            units.append(("\n".join(prose), False))
            prose = []
        units.append(("\n".join(lines[i : end + 1]).strip(), True))
        i = end + 1
    if prose:
        units.append(("\n".join(prose), False))
    return units


def approx_token_count(texts: Sequence[str]) -> list[int]:
    """For embedders without a local tokenizer: word pieces run about 1.3 per word."""
    return [int(len(t.split()) * 1.3) + 1 for t in texts]


@dataclass(frozen=True, slots=True)
class Size:
    """What a text takes of a chunk: its tokens and its UTF-8 bytes, each with a budget."""

    tokens: int
    bytes: int

    def __add__(self, other: Size) -> Size:
        return Size(self.tokens + other.tokens, self.bytes + other.bytes)

    def __sub__(self, other: Size) -> Size:
        return Size(self.tokens - other.tokens, self.bytes - other.bytes)

    def fits(self, budget: Size) -> bool:
        return self.tokens <= budget.tokens and self.bytes <= budget.bytes


NOTHING = Size(0, 0)
LONG_CHARS = 4  # characters a token above which a paragraph is counted by its sentences (English: ~4.3)


@dataclass(slots=True)
class _Split:
    """A paragraph's sentences (split_sentences) and their sizes, counted once."""

    sentences: list[str]
    sizes: list[Size]


@dataclass(slots=True)
class _Section:
    heading_path: list[str]
    page: int | None
    units: list[Block]


@dataclass(slots=True)
class Chunker:
    count_tokens: TokenCounter = approx_token_count
    max_tokens: int = 240
    overlap_tokens: int = 32
    # The counter's count of a paragraph is at least the sum of its sentences' counts (a WordPiece
    # count is: sentences split at spaces, and split_sentences only drops spacing), so a long
    # paragraph is counted by its sentences alone. approx_token_count's is not (+1 per text).
    additive: bool = False

    def _count(self, texts: Sequence[str]) -> list[Size]:
        counts = self.count_tokens(texts)
        return [Size(n, _utf8_len(t)) for t, n in zip(texts, counts, strict=True)]

    def chunk(self, doc_id: str, blocks: Sequence[Block], title: str = "") -> list[Chunk]:
        """Chunks whose indexed text (title and headings, then the text) fits `max_tokens`."""
        chunks: list[Chunk] = []
        for section in _sections(blocks):
            probe = Chunk("", doc_id, 0, "", section.heading_path)
            prefix = probe.context_text(title).strip()
            texts = [fence(u.text) if u.kind == "code" else u.text for u in section.units]
            sizes, split = self._sizes(prefix, section.units, texts)
            reserve = sizes[0].tokens + 1 if prefix else 0
            tokens = max(self.max_tokens - reserve, min(32, self.max_tokens))
            budget = Size(tokens, tokens * MAX_BYTES_PER_TOKEN)
            sizes = self._settle(texts, sizes[1:], split, budget)
            for text in self._pack(section.units, texts, sizes, budget, split):
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

    def _sizes(self, prefix: str, units: list[Block], texts: list[str]) -> tuple[list[Size], list[_Split | None]]:
        """The prefix's and each unit's size in one counting call; a paragraph likely too long for a
        chunk (LONG_CHARS a token) is counted by its sentences alone, which it would be split into
        anyway: its size is then a lower bound (the sentences' tokens, its own bytes), settled by
        `_settle`. Counting it whole and again by sentence was most of chunking's cost."""
        split: list[_Split | None] = []
        whole: list[str] = [prefix]
        sentences: list[str] = []
        for unit, text in zip(units, texts, strict=True):
            if self.additive and unit.kind not in ("code", "table") and len(text) > LONG_CHARS * self.max_tokens:
                parts = split_sentences(text)
                split.append(_Split(parts, []))
                sentences.extend(parts)
            else:
                split.append(None)
                whole.append(text)
        counted = self._count([*whole, *sentences])
        found, by_sentence = iter(counted[1 : len(whole)]), iter(counted[len(whole) :])
        sizes = [counted[0]]
        for text, known in zip(texts, split, strict=True):
            if known is None:
                sizes.append(next(found))
                continue
            known.sizes.extend(next(by_sentence) for _ in known.sentences)
            tokens = sum(size.tokens for size in known.sizes)
            sizes.append(Size(tokens, _utf8_len(text)))
        return sizes, split

    def _settle(self, texts: list[str], sizes: list[Size], split: list[_Split | None], budget: Size) -> list[Size]:
        """A paragraph counted by its sentences whose lower bound fits the budget is counted whole:
        its exact size decides (as for any other unit) whether it stays whole."""
        unsure = [i for i, (size, known) in enumerate(zip(sizes, split, strict=True)) if known and size.fits(budget)]
        settled = list(sizes)
        for i, size in zip(unsure, self._count([texts[i] for i in unsure]) if unsure else [], strict=True):
            settled[i] = size
        return settled

    def _pack(
        self, units: list[Block], texts: list[str], sizes: list[Size], budget: Size, split: list[_Split | None]
    ) -> list[str]:
        """Pieces gathered into chunks within `budget`. A whole unit's or a sentence's
        count is the one _pieces took; only windows are counted here (counting every piece
        again made chunking 6.5% of SciFact's ingestion once the model got 3x faster)."""
        counted = self._pieces(units, texts, sizes, budget, split)
        if not counted:
            return []
        unknown = [text for text, _, size in counted if size is None]
        found = iter(self._count(unknown) if unknown else [])
        sizes = [size if size is not None else next(found) for _, _, size in counted]
        pieces = [(text, starts_para) for text, starts_para, _ in counted]
        out: list[str] = []
        current: list[tuple[str, Size, bool]] = []  # (text, size, starts_paragraph)
        used = NOTHING
        for (text, starts_para), size in zip(pieces, sizes, strict=True):
            if current and not (used + size).fits(budget):
                out.append(_join(current))
                current, used = self._overlap(current)
                while current and not (used + size).fits(budget):  # the overlap must leave room for the piece
                    used -= current.pop(0)[1]
            current.append((text, size, starts_para))
            used += size
        if current:
            out.append(_join(current))
        return out

    def _overlap(self, current: list[tuple[str, Size, bool]]) -> tuple[list[tuple[str, Size, bool]], Size]:
        """The trailing sentences of the previous chunk that fit the overlap budget."""
        kept: list[tuple[str, Size, bool]] = []
        used = NOTHING
        limit = Size(self.overlap_tokens, self.overlap_tokens * MAX_BYTES_PER_TOKEN)
        for item in reversed(current):
            if not (used + item[1]).fits(limit):
                break
            kept.insert(0, item)
            used += item[1]
        if len(kept) == len(current):  # never repeat a whole chunk
            kept, used = [], NOTHING
        return kept, used

    def _pieces(
        self, units: list[Block], texts: list[str], sizes: list[Size], budget: Size, split: list[_Split | None]
    ) -> list[tuple[str, bool, Size | None]]:
        """Units (as `texts`, of `sizes` tokens) that fit stay whole; longer paragraphs split into
        sentences, then word windows; longer code blocks and tables into windows of whole lines.
        Each piece: (text, starts a paragraph, its token count, None for a window: counted later)."""
        pieces: list[tuple[str, bool, Size | None]] = []
        for unit, para, size, known in zip(units, texts, sizes, split, strict=True):
            if size.fits(budget):
                pieces.append((para, True, size))
                continue
            if unit.kind in ("code", "table"):
                pieces.extend((w, True, None) for w in self._line_windows(unit, budget))
                continue
            sentences = known.sentences if known else split_sentences(para)
            counts = known.sizes if known else self._count(sentences)
            for i, (sent, ssize) in enumerate(zip(sentences, counts, strict=True)):
                if ssize.fits(budget):
                    pieces.append((sent, i == 0, ssize))
                else:
                    windows = self._word_windows(sent, budget)
                    pieces.extend((w, i == 0 and j == 0, None) for j, w in enumerate(windows))
        return pieces

    def _line_windows(self, unit: Block, budget: Size) -> list[str]:
        """A code block or table too long for a chunk, cut between lines: each window a fenced
        code block, or table rows under the table's header rows."""
        lines = unit.text.split("\n")
        header = lines[: unit.header_rows] if unit.kind == "table" else []
        held = self._count(["\n".join(header)])[0] if header else NOTHING
        if not (held + held).fits(budget):
            header = []  # too large to repeat

        def wrap(body: list[str]) -> str:
            return fence("\n".join(body)) if unit.kind == "code" else "\n".join(header + body)

        wrapping = self._count([wrap([])])[0]
        room = Size(max(budget.tokens - wrapping.tokens, 1), max(budget.bytes - wrapping.bytes, 4))
        rest = lines[len(header) :]
        body: list[str] = []
        for line, size in zip(rest, self._count(rest), strict=True):
            body.extend([line] if size.fits(room) else self._word_windows(line, room))
        return [wrap(w) for w in self._windows(body, room)]

    def _word_windows(self, text: str, budget: Size) -> list[str]:
        """Greedy windows of whole words; words are counted one by one, so every window fits. A
        word too long for a window is cut every `step` characters (a piece is then at most `step`
        tokens and 4 * `step` bytes), its pieces joined without a space in a window."""
        items: list[tuple[str, bool]] = []  # (text, continues the word before it)
        sizes: list[Size] = []
        words = text.split()
        step = max(min(budget.tokens, budget.bytes // 4), 1)
        for word, size in zip(words, self._count(words) if words else [], strict=True):
            if size.fits(budget):
                items.append((word, False))
                sizes.append(size)
                continue
            pieces = [word[i : i + step] for i in range(0, len(word), step)]
            items.extend((piece, i > 0) for i, piece in enumerate(pieces))
            sizes.extend(self._count(pieces))
        return [
            "".join(t if i == 0 or glued else " " + t for i, (t, glued) in enumerate(window))
            for window in self._windows(items, budget, sizes)
        ]

    def _windows(self, items: list[T], budget: Size, sizes: list[Size] | None = None) -> list[list[T]]:
        """Consecutive items grouped greedily so that each group fits the budget."""
        windows: list[list[T]] = []
        current: list[T] = []
        used = NOTHING
        if sizes is None:
            sizes = self._count(cast(list[str], items)) if items else []
        for item, size in zip(items, sizes, strict=True):
            if current and not (used + size).fits(budget):
                windows.append(current)
                current, used = [], NOTHING
            current.append(item)
            used += size
        if current:
            windows.append(current)
        return windows


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _join(items: list[tuple[str, Size, bool]]) -> str:
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
        if block.kind == "heading":  # one with no text only closes its level (a definition list ends)
            path = [(lvl, t) for lvl, t in path if lvl < block.level]
            path += [(block.level, block.text)] if block.text else []
            current = None
            continue
        heading_path = [t for _, t in path]
        if current is None or current.page != block.page:
            current = _Section(heading_path, block.page, [])
            sections.append(current)
        if block.text.strip():
            current.units.append(block)
    return [s for s in sections if s.units]
