"""A long paragraph is counted by its sentences alone (they are what it is split into): the same
chunks as counting it whole and again by sentence, for less counting."""

from __future__ import annotations

from ragwright.ingest.chunking import Block, Chunker

SENTENCE = 'The trial "enrolled {n} adults." (Ages 40-75.) Blood pressure fell by {n} mmHg [95% CI]. '
PARAGRAPHS = [
    "".join(SENTENCE.format(n=j * 7) for j in range(30)),  # long: counted by its sentences
    "Internationalization considerations. " * 16,  # 592 characters, 64 tokens: it fits whole
    "A short paragraph. It fits.",
    "```\n" + "\n".join(f"x_{i} = compute({i})  # step {i}" for i in range(120)) + "\n```",
    "\n".join(f"row {i} | value {i * 3} | note about {i}" for i in range(80)),
    " ".join(["word"] * 900),  # no sentence end: one sentence, word windows
]


def chunks(embedder, additive: bool, seen: list[int]) -> list[tuple[str, list[str]]]:
    def count(texts):
        seen.append(sum(map(len, texts)))
        return embedder.count_tokens(texts)

    chunker = Chunker(count, max_tokens=120, overlap_tokens=16, additive=additive)
    blocks = [Block("Results", kind="heading", level=2), *(Block(p) for p in PARAGRAPHS)]
    blocks[4] = Block(PARAGRAPHS[3].strip("`\n"), kind="code")
    return [(c.text, c.heading_path) for c in chunker.chunk("d", blocks, "A trial")]


def test_counting_by_sentence_gives_the_same_chunks_for_less(embedder):
    whole, by_sentence = [], []
    before, after = chunks(embedder, False, whole), chunks(embedder, True, by_sentence)
    assert after == before and len(before) > 10
    assert any(PARAGRAPHS[1].strip() in text for text, _ in after)  # settled whole, not split
    assert sum(by_sentence) < 0.8 * sum(whole)  # the long paragraphs were read once, not twice
