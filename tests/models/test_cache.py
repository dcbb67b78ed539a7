"""The caches: exact entries expire; the semantic cache answers surface variants and never a
question of opposite meaning."""

import time

import pytest

from ragwright.config import GatewaySettings, ModelSettings, Settings
from ragwright.models import CallContext, ChatMessage, Gateway
from ragwright.models.cache import signature
from ragwright.store import SqliteStore
from tests.provider_server import ProviderServer
from tests.store.contract.backends import document

CLAIM = "Vitamin D supplementation reduces the risk of hip fractures in older adults."


@pytest.fixture
def setup(tmp_path, embedder):
    store = SqliteStore(tmp_path / "d" / "ragwright.db")
    with ProviderServer() as srv:
        settings = Settings(
            models={"m": ModelSettings(base_url=srv.base_url + "/v1", model="x")},
            gateway=GatewaySettings(semantic_cache=True, cache_ttl_s=0.5),
        )
        yield Gateway(settings, store, embedder=embedder), srv
    store.close()


def ask(gw, text, system="Answer briefly."):
    return gw.chat([ChatMessage("system", system), ChatMessage("user", text)], model="m")


@pytest.mark.parametrize(
    "variant",
    [
        CLAIM.lower(),
        CLAIM.rstrip(".") + "?",
        "Is it true that vitamin D supplementation reduces the risk of hip fractures in older adults?",
        "  " + CLAIM + "  ",
    ],
)
def test_surface_variants_hit(setup, variant):
    gw, srv = setup
    first = ask(gw, CLAIM)
    hit = ask(gw, variant)
    assert hit.cached and hit.text == first.text and srv.count() == 1


@pytest.mark.parametrize(
    "other",
    [
        "Vitamin D supplementation does not reduce the risk of hip fractures in older adults.",
        "Vitamin D supplementation increases the risk of hip fractures in older adults.",
        "Vitamin D supplementation reduces the risk of hip fractures in younger adults.",
        "Vitamin D supplementation reduces the risk of hip fractures in adults over 80.",
        "Vitamin D or calcium supplementation reduces the risk of hip fractures in older adults.",
    ],
)
def test_opposite_or_different_questions_miss(setup, other):
    gw, srv = setup
    ask(gw, CLAIM)
    assert not ask(gw, other).cached and srv.count() == 2


def test_other_system_prompt_misses_and_entries_expire(setup):
    gw, srv = setup
    ask(gw, CLAIM)
    assert not ask(gw, CLAIM, system="Answer in French.").cached
    assert ask(gw, CLAIM).cached
    time.sleep(0.6)
    assert not ask(gw, CLAIM).cached and srv.count() == 3


def test_the_cache_tables_stay_bounded_under_a_stream_of_distinct_requests(setup):
    """Every request is new, so every one adds an exact and a semantic entry (and their links to
    the documents they quoted); expired ones must go, or the tables grow with the traffic."""
    gw, srv = setup  # entries live 0.5 s; expired ones are deleted within 0.5 s more
    store = gw.store
    store.write_documents([document(f"doc{i}", [f"Passage {i}."], dim=384) for i in range(40)])  # linked, kept
    sizes, times = [], []
    for i in range(40):
        times.append(time.monotonic())
        gw.chat(
            [ChatMessage("user", f"Question number {i} about topic {i * 7919 % 1000}?")],
            model="m",
            context=CallContext(sources=(f"doc{i}",)),
        )
        sizes.append(store._one("SELECT COUNT(*) FROM cache_entries")[0])
        time.sleep(0.05)
    links = store._one("SELECT COUNT(*) FROM cache_sources")[0]
    assert srv.count() == 40 and times[-1] - times[0] > 1.5
    for i, size in enumerate(sizes):  # at most 2 entries for each request of the last 1.0 s (+ slack)
        assert size <= 2 * sum(times[i] - t < 1.1 for t in times[: i + 1]), (i, sizes)
    assert sizes[-1] < 40 and 0 < links <= sizes[-1]  # without the purge: 80 entries and 80 links


def test_signature_keeps_negations_and_connectives():
    assert signature("X is not Y") != signature("X is Y")
    assert signature("X doesn't cause Y") == signature("X does not cause Y")
    assert signature("A and B cause C") != signature("A or B cause C")
    assert signature("Is it true that smoking causes cancer?") == signature("Smoking causes cancer.")


def test_signature_reads_words_in_every_script():
    """The guard read only [a-z0-9]: every Cyrillic, Greek or CJK prompt had the empty signature,
    and "Won't Ivan be fired?" in Russian got the reply to "Will Ivan be fired?" (similarity 0.98)."""
    assert signature("Ивана уволят в марте?") != signature("Ивана не уволят в марте?")
    assert signature("Ο Γιάννης θα απολυθεί;") != signature("Ο Γιάννης δεν θα απολυθεί;")  # noqa: RUF001
    assert signature("伊万会被解雇吗？") != signature("伊万不会被解雇吗？")  # noqa: RUF001
    assert signature("Wird Iwan entlassen?") != signature("Wird Iwan nicht entlassen?")
    assert signature("Iwan wird nie entlassen") != signature("Iwan wird nicht entlassen")
    assert signature("X helps in non-diabetic patients") != signature("X helps not in diabetic patients")
    assert signature("Ивана уволят в марте?") == signature("  ивана уволят в марте. ")
    assert signature("Won’t it?") == signature("Won't it?")  # noqa: RUF001


class _Same:
    """An embedder that rates every two prompts identical: only the signature decides."""

    def embed(self, texts):
        import numpy as np

        return np.ones((len(texts), 4), dtype=np.float32) / 2


def test_an_empty_signature_never_answers_from_the_semantic_cache(tmp_path):
    from ragwright.models.cache import SemanticCache
    from ragwright.models.types import ChatRequest, ChatResult, Usage

    store = SqliteStore(tmp_path / "ragwright.db")
    cache = SemanticCache(store, _Same(), threshold=0.9, ttl_s=60)
    request = lambda text: ChatRequest(messages=(ChatMessage("user", text),))  # noqa: E731
    cache.put("m", request("🙂🙂?"), ChatResult(text="about the first", model="m", usage=Usage()))
    assert cache.get("m", request("😡!")) is None  # nothing to judge them by: exact only
    cache.put("m", request("Ивана уволят?"), ChatResult(text="yes", model="m", usage=Usage()))
    assert cache.get("m", request("ивана уволят")) is not None  # words it can read: reworded hits
    store.close()


@pytest.mark.parametrize("cache", ["exact", "semantic"])
def test_cached_replies_are_kept_per_reader(setup, cache):
    """One tenant, two readers (another group, or no key-wide groups at all): a reply cached for
    one never serves the other; readers of the same groups share."""
    gw, srv = setup
    variant = CLAIM if cache == "exact" else CLAIM.lower()
    hr = CallContext(key_id="k1", tenant="acme", reader="hr")
    other = CallContext(key_id="k2", tenant="acme", reader="")
    hr_too = CallContext(key_id="k3", tenant="acme", reader="hr")
    messages = lambda text: [ChatMessage("system", "Answer briefly."), ChatMessage("user", text)]  # noqa: E731
    gw.chat(messages(CLAIM), model="m", context=hr)
    assert not gw.chat(messages(variant), model="m", context=other).cached and srv.count() == 2
    assert gw.chat(messages(variant), model="m", context=hr_too).cached and srv.count() == 2


def test_a_prompts_vector_is_remembered_for_its_reader_only(setup, embedder):
    """Review 14: the semantic cache embedded prompts outside any recall scope, so a prompt one
    reader sent was a remembered (microseconds, not milliseconds) vector for every other."""
    gw, _ = setup
    runs: list[str] = []
    model_run = embedder._embed_text
    embedder._embed_text = lambda text: runs.append(text) or model_run(text)
    embedder.forget()
    try:
        hr = CallContext(key_id="k1", tenant="acme", reader="hr")
        gw.chat([ChatMessage("user", CLAIM)], model="m", context=hr)
        assert len(runs) == 1 and not embedder.remembers(runs[0])  # not in the shared scope
        legal = CallContext(key_id="k2", tenant="acme", reader="legal")
        gw.chat([ChatMessage("user", CLAIM)], model="m", context=legal)
        assert len(runs) == 2  # another reader's prompt runs the model: nothing to time
        gw.chat([ChatMessage("user", CLAIM.lower())], model="m", context=hr)
        assert len(runs) == 3 and gw.chat([ChatMessage("user", CLAIM.lower())], model="m", context=hr).cached
        assert len(runs) == 3  # the same reader's repeat is remembered
    finally:
        del embedder._embed_text
        embedder.forget()


def test_without_a_reader_replies_are_kept_per_key(setup):
    gw, _ = setup
    gw.chat([ChatMessage("user", CLAIM)], model="m", context=CallContext(key_id="k1", tenant="acme"))
    assert not gw.chat([ChatMessage("user", CLAIM)], model="m", context=CallContext(key_id="k2", tenant="acme")).cached
    assert gw.chat([ChatMessage("user", CLAIM)], model="m", context=CallContext(key_id="k1", tenant="acme")).cached


class _Space:
    """An embedder of another vector space (another size): its entries must never meet _Same's."""

    def __init__(self, name, dim):
        self.name, self.dim = name, dim

    def embed(self, texts):
        import numpy as np

        return np.ones((len(texts), self.dim), dtype=np.float32) / self.dim**0.5


def test_semantic_entries_are_kept_per_vector_space(tmp_path):
    """The same store read by two embedders (a data dir's fused graph, then a remote model of 1536
    dimensions): a lookup never compares vectors of one space with the other's (it crashed on the
    shapes, or compared unrelated vectors)."""
    from ragwright.models.cache import SemanticCache
    from ragwright.models.types import ChatRequest, ChatResult, Usage

    store = SqliteStore(tmp_path / "ragwright.db")
    request = ChatRequest(messages=(ChatMessage("user", CLAIM),))
    small = SemanticCache(store, _Space("small", 4), threshold=0.9, ttl_s=60)
    large = SemanticCache(store, _Space("large", 1536), threshold=0.9, ttl_s=60)
    small.put("m", request, ChatResult(text="from the small space", model="m", usage=Usage()))
    assert large.get("m", request) is None
    assert small.get("m", request) is not None
    store.close()
