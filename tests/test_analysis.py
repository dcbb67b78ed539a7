"""The shared analyzer: Lucene-like English terms; a short text's terms are analysed once."""

from ragwright.analysis import SHORT_TEXT, Analyzer


def test_terms_are_lucene_like_english():
    a = Analyzer()
    assert a.terms("The cat's Running into the gardens") == ["cat", "run", "garden"]


def test_a_short_text_is_analysed_once_and_callers_get_their_own_list():
    a = Analyzer()
    seen: list[str] = []
    real = a._terms

    def counted(text: str) -> list[str]:
        seen.append(text)
        return real(text)

    a._terms = counted  # type: ignore[method-assign]
    sentence = "Autovacuum workers are limited by autovacuum_max_workers."
    first = a.terms(sentence)
    first.append("changed by the caller")
    assert a.terms(sentence) == ["autovacuum", "worker", "limit", "autovacuum", "max", "worker"]
    assert seen == [sentence]
    long_text = "word " * (SHORT_TEXT // 5 + 1)  # a chunk: not kept whole
    a.terms(long_text), a.terms(long_text)
    assert seen.count(long_text) == 2
