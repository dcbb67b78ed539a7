import itertools

from ragwright.ingest.chunking import Chunker, fence, split_sentences
from ragwright.types import Block


def test_split_sentences():
    assert split_sentences("It is 3.5 m long. Next one! And (another) one? Yes.") == [
        "It is 3.5 m long.",
        "Next one!",
        "And (another) one?",
        "Yes.",
    ]


def test_chunks_follow_headings_and_respect_token_budget(embedder):
    sentence = "The quick brown fox jumps over the lazy dog near the river bank."
    blocks = [Block("Guide", "heading", 1), Block("Short intro."), Block("Install", "heading", 2)]
    blocks += [Block(" ".join([sentence] * 6)) for _ in range(8)]
    blocks += [Block("Usage", "heading", 2), Block("Run it.")]
    chunker = Chunker(embedder.count_tokens, max_tokens=120, overlap_tokens=20)
    chunks = chunker.chunk("doc", blocks)
    sizes = embedder.count_tokens([c.text for c in chunks])
    assert max(sizes) <= 120 + 2  # joining adds at most a separator token
    assert chunks[0].heading_path == ["Guide"] and chunks[0].text == "Short intro."
    assert chunks[-1].heading_path == ["Guide", "Usage"] and chunks[-1].text == "Run it."
    install = [c for c in chunks if c.heading_path == ["Guide", "Install"]]
    assert len(install) >= 4
    assert [c.chunk_id for c in chunks] == [f"doc#{i}" for i in range(len(chunks))]


def test_overlap_repeats_trailing_sentences_within_a_section(embedder):
    sents = [f"Sentence number {i} talks about topic {i}." for i in range(60)]
    chunker = Chunker(embedder.count_tokens, max_tokens=60, overlap_tokens=15)
    chunks = chunker.chunk("d", [Block(" ".join(sents))])
    assert len(chunks) > 3
    for prev, nxt in itertools.pairwise(chunks):
        last_sentence = split_sentences(prev.text)[-1]
        assert nxt.text.startswith(last_sentence)
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sents)


def test_one_giant_sentence_is_split_into_word_windows(embedder):
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = Chunker(embedder.count_tokens, max_tokens=100, overlap_tokens=0).chunk("d", [Block(text)])
    assert all(n <= 100 for n in embedder.count_tokens([c.text for c in chunks]))
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_pages_start_new_sections():
    blocks = [Block("one", page=1), Block("two", page=2)]
    chunks = Chunker(max_tokens=500).chunk("d", blocks)
    assert [(c.text, c.page) for c in chunks] == [("one", 1), ("two", 2)]


def test_indexed_text_with_title_and_overlap_fits_the_budget(embedder):
    sents = [f"Claim {i}: the protein variant {i} binds receptor sites with moderate affinity." for i in range(80)]
    chunker = Chunker(embedder.count_tokens, max_tokens=100, overlap_tokens=40)
    chunks = chunker.chunk(
        "d",
        [Block("Results of the binding assays", "heading", 1), Block(" ".join(sents))],
        title="A long title about protein binding studies",
    )
    sizes = embedder.count_tokens([c.context_text("A long title about protein binding studies") for c in chunks])
    assert max(sizes) <= 100 + 2, sizes


def test_a_code_block_that_fits_a_chunk_is_never_split(embedder):
    prose = Block(" ".join(f"Sentence {i} explains the setup in plain words." for i in range(12)))
    code = Block("\n".join(f"step_{i} = run({i})" for i in range(15)), "code")
    chunker = Chunker(embedder.count_tokens, max_tokens=150, overlap_tokens=0)
    assert embedder.count_tokens([fence(code.text)])[0] <= 150
    chunks = chunker.chunk("d", [prose, code])
    holding = [c.text for c in chunks if "step_" in c.text]
    assert len(holding) == 1 and fence(code.text) in holding[0]  # whole, with its line breaks, in one chunk


def test_a_long_table_is_split_between_rows_under_its_header(embedder):
    rows = [f"param_{i} | {i * 8} kB | sets the size of buffer number {i}" for i in range(60)]
    table = Block("\n".join(["Name | Default | Meaning", *rows]), "table", header_rows=1)
    chunks = Chunker(embedder.count_tokens, max_tokens=120, overlap_tokens=20).chunk("d", [table])
    assert len(chunks) > 3
    assert all(c.text.split("\n")[0] == "Name | Default | Meaning" for c in chunks)
    assert [r for c in chunks for r in c.text.split("\n")[1:]] == rows
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 120


def test_a_heading_without_text_closes_its_section():
    blocks = [
        Block("Settings", "heading", 1),
        Block("cache_size", "heading", 2),
        Block("Sets the cache."),
        Block("", "heading", 2),
        Block("Text after the list."),
    ]
    chunks = Chunker(max_tokens=500).chunk("d", blocks)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (["Settings", "cache_size"], "Sets the cache."),
        (["Settings"], "Text after the list."),
    ]


def test_sentences_keep_code_blocks_and_table_rows_whole():
    text = (
        "Run this. Then check.\n\n```\nx = load()\n\nprint(x.value)  # Not a sentence. Really\n```\n\n"
        "Name | Size\nsmall | 1. Tiny\nlarge | 9"
    )
    assert split_sentences(text) == [
        "Run this.",
        "Then check.",
        "```\nx = load()\n\nprint(x.value)  # Not a sentence. Really\n```",
        "Name | Size",
        "small | 1. Tiny",
        "large | 9",
    ]


def test_fence_outgrows_fences_inside_the_code():
    assert fence("a\n```\nb") == "````\na\n```\nb\n````"
    assert split_sentences(fence("a\n```\nb")) == ["````\na\n```\nb\n````"]


def test_every_text_is_counted_once():
    """The token counter is the chunker's cost: a paragraph too long for a chunk is counted once,
    then each of its sentences once (they were counted twice, in _pieces and again in _pack)."""
    from collections import Counter

    from ragwright.ingest.chunking import Block, approx_token_count

    seen: Counter[str] = Counter()

    def counting(texts):
        seen.update(texts)
        return approx_token_count(texts)

    sentences = [f"Sentence {i} says something about topic {i} in a dozen or so words." for i in range(60)]
    chunks = Chunker(count_tokens=counting, max_tokens=120).chunk("d", [Block(" ".join(sentences))], "A title")
    assert len(chunks) > 3
    assert max(seen.values()) == 1, seen.most_common(3)
    assert all(seen[s] == 1 for s in sentences)


def test_a_sentence_keeps_its_closing_quotes_and_brackets():
    """They follow the full stop: a split there dropped them from every chunk (chunk text lost
    characters of the source)."""
    from ragwright.ingest.chunking import split_sentences

    text = 'The trial "enrolled 28 adults." (Ages 40-75.) Blood pressure fell. [See table 2.] Next?'
    assert split_sentences(text) == [
        'The trial "enrolled 28 adults."',
        "(Ages 40-75.)",
        "Blood pressure fell.",
        "[See table 2.]",
        "Next?",
    ]
    assert " ".join(split_sentences(text)) == text
