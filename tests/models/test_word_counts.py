"""Counts from the word cache must equal the tokenizer's, or chunk boundaries would move."""

from __future__ import annotations

import json
import random

import pytest
from tokenizers import Tokenizer

from ragwright.models import embedding
from ragwright.models._word_counts import WARM_WORDS, WordCounts
from tests.conftest import shared_data

# every kind of character the normalizer or the pre-tokenizer treats apart
ALPHABET = (
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    + list(".,;:!?'\"()[]{}<>-_/\\@#$%^&*+=~`|")
    + list("éüßøçÅÉ\u0301\u0308αβγΔкириллица中文字日本語한국어😀👍🏽\u200d\u200b\ufffd\x00\x7f")  # noqa: RUF001
    + [chr(c) for c in (9, 10, 11, 12, 13, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2003, 0x2028)]
    + [chr(c) for c in (0x2029, 0x202F, 0x205F, 0x3000)]
    + [" "] * 12
)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    path = embedding._packaged_file(embedding.TOKENIZER_PACKAGE, embedding.TOKENIZER_FILE, embedding.TOKENIZER_SHA256)
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def true_counts(tok: Tokenizer, texts: list[str]) -> list[int]:
    return [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]


def random_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["".join(rng.choices(ALPHABET, k=rng.randint(0, 120))) for _ in range(n)]
    texts += ["x" * 150 + " " + "y" * 99 + "." + "z" * 101, "", "   ", "\x0b", "a\x0cb c\x85d", "e\x1cf"]
    return texts


def test_counts_equal_the_tokenizers_cold_warm_and_after_the_cache_starts_again(tokenizer):
    texts = random_texts(0, 3000)
    expected = true_counts(tokenizer, texts)
    counts = WordCounts(tokenizer, max_words=5000)
    assert counts(texts[:1500]) == expected[:1500]  # cold
    assert counts(texts) == expected  # half warm
    assert counts(texts[::-1]) == expected[::-1]  # warm
    for start in range(0, len(texts), 100):  # small calls, the cache full and emptied on the way
        assert counts(texts[start : start + 100]) == expected[start : start + 100]


def test_mostly_new_words_are_counted_whole_and_only_repeated_ones_learnt(tokenizer):
    counts = WordCounts(tokenizer)
    common = [f"word{i}" for i in range(WARM_WORDS)]
    assert counts([" ".join(common)]) == true_counts(tokenizer, [" ".join(common)])
    ids = [f"id{i:06d}x" for i in range(3000)]
    texts = [" ".join(ids[i : i + 10]) + " repeated repeated" for i in range(0, 3000, 10)]
    assert counts(texts) == true_counts(tokenizer, texts)
    assert "repeated" in counts._known and "id000001x" not in counts._known
    assert counts(["repeated word1"]) == true_counts(tokenizer, ["repeated word1"])


def test_scifact_abstracts_and_their_sentences(tokenizer):
    from ragwright.ingest.chunking import split_sentences

    path = shared_data("scifact") / "corpus.jsonl"
    with path.open() as f:
        docs = [json.loads(line) for _, line in zip(range(800), f, strict=False)]
    texts = [d["title"] + "\n\n" + d["text"] for d in docs]
    texts += [s for d in docs for s in split_sentences(d["text"])]
    counts = WordCounts(tokenizer)
    assert counts(texts) == true_counts(tokenizer, texts)
    assert counts(texts[::-1]) == true_counts(tokenizer, texts[::-1])


def test_the_embedder_counts_through_the_cache(embedder):
    text = "Structure-aware chunking counts word pieces: ünïcode, 中文, and id-12345."
    assert embedder.count_tokens([text, text]) == [len(embedder._truncating().encode(text).ids) - 2] * 2
