"""The caches: exact entries expire; the semantic cache answers surface variants and never a
question of opposite meaning."""

import time

import pytest

from ragwright.config import GatewaySettings, ModelSettings, Settings
from ragwright.models import CallContext, ChatMessage, Gateway
from ragwright.models.cache import signature
from ragwright.store import SqliteStore
from tests.provider_server import ProviderServer

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
    assert sizes[-1] < 40 and links <= sizes[-1]  # without the purge: 80 entries and 80 links


def test_signature_keeps_negations_and_connectives():
    assert signature("X is not Y") != signature("X is Y")
    assert signature("X doesn't cause Y") == signature("X does not cause Y")
    assert signature("A and B cause C") != signature("A or B cause C")
    assert signature("Is it true that smoking causes cancer?") == signature("Smoking causes cancer.")
