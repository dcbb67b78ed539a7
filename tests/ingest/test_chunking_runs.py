"""A chunk is bounded in bytes as well as tokens (review 13, finding 1): the embedder's WordPiece
count makes a word over 100 characters, or a run of characters outside its vocabulary, one token,
so a document holding 120,000 emoji after one sentence was ONE chunk of 120,054 characters, sent
whole to the answer model by every ask that retrieved it."""

import pytest

from ragwright.ingest.chunking import MAX_BYTES_PER_TOKEN, Chunker
from ragwright.types import Block

EMOJI = "\U0001f600"
RUNS = [
    "Parking permits are renewed each January. Attachment: " + EMOJI * 120_000,
    "a" * 20_000,
    "Before the blob. " + "QUJD" * 5_000 + " after the blob.",
    "x " * 5 + "ab" * 3_000 + " end.",
]


@pytest.mark.parametrize("text", RUNS, ids=["emoji", "a-run", "base64", "word-pieces"])
def test_a_long_run_without_spaces_is_cut_into_chunks_within_the_budget(embedder, text):
    chunks = Chunker(embedder.count_tokens, max_tokens=240, overlap_tokens=32).chunk("d", [Block(text)], "T")
    assert len(chunks) > 1  # was 1 for each
    assert max(len(c.text.encode()) for c in chunks) <= 240 * MAX_BYTES_PER_TOKEN
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 240
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")  # nothing lost


def test_a_run_is_cut_only_where_it_must_be(embedder):
    """The pieces of one word are joined again without a space inside a chunk."""
    chunks = Chunker(embedder.count_tokens, max_tokens=240, overlap_tokens=0).chunk("d", [Block("a" * 20_000)])
    assert "".join(c.text for c in chunks) == "a" * 20_000


def test_a_long_run_in_a_code_block_is_cut_too(embedder):
    code = Block("print(1)\n" + "Q" * 5_000 + "\nprint(2)", "code")
    chunks = Chunker(embedder.count_tokens, max_tokens=120, overlap_tokens=0).chunk("d", [code])
    assert len(chunks) > 1 and all(c.text.startswith("```") for c in chunks)
    assert max(len(c.text.encode()) for c in chunks) <= 120 * MAX_BYTES_PER_TOKEN


def test_ordinary_text_is_chunked_as_before(embedder):
    """Well under the byte budget: the same chunks as a token budget alone gives (SciFact and the
    pgdocs pages: no chunk of their 14,201 changed)."""
    sentence = "The quick brown fox jumps over the lazy dog near the river bank, said the ranger."
    blocks = [Block(" ".join([sentence] * 9)) for _ in range(6)]

    class TokensOnly(Chunker):
        def _count(self, texts):  # what chunking did before: tokens, bytes never over budget
            from ragwright.ingest.chunking import Size

            return [Size(n, 0) for n in self.count_tokens(texts)]

    both = Chunker(embedder.count_tokens, max_tokens=120, overlap_tokens=20).chunk("d", blocks, "A title")
    tokens = TokensOnly(embedder.count_tokens, max_tokens=120, overlap_tokens=20).chunk("d", blocks, "A title")
    assert [c.text for c in both] == [c.text for c in tokens] and len(both) > 3
