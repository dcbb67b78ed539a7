"""A reader's refusal calibration is the reader's, not the first ask's: it is kept per reader, so
its probes search what the reader may read, never narrowed by another filter of that ask."""

from __future__ import annotations

from ragwright import Settings, TextRecord, Workspace
from ragwright._workspace.calibration import reader_filters
from ragwright.types import Access


def records(prefix: str, topic: str, n: int) -> list[TextRecord]:
    return [
        TextRecord(id=f"{prefix}{i}", text=f"{topic} note {i}: the {topic} team meets on day {i}.", title=topic)
        for i in range(n)
    ]


def test_reader_filters_keep_who_reads_and_drop_what_was_asked():
    access = Access("t1", groups=("ops",))
    assert reader_filters({"access": access, "source": "a.md", "tag": "x"}) == {"access": access}
    assert reader_filters({"tenant": "t1", "source": "a.md"}) == {"tenant": "t1"}
    assert reader_filters({"source": "a.md"}) is None
    assert reader_filters(None) is None


def test_the_first_asks_source_filter_does_not_set_the_readers_calibration(embedder, tmp_path):
    """The same corpus calibrated fresh for the reader, and after an ask narrowed to one source:
    the same probe quantile. Probed with the first ask's filters, the narrowed one scored the
    probes against a handful of passages and kept that for every later ask."""
    quantiles = []
    for narrowed in (False, True):
        ws = Workspace(settings=Settings(data_dir=tmp_path / f"d{narrowed}"), embedder=embedder)
        ws.ingest_records(records("a", "expenses", 3) + records("b", "weather", 12), access=Access("t1"))
        first = {"access": Access("t1")}
        if narrowed:
            first["source"] = "a0"
            ws.calibration(filters=first)
        calibration = ws.calibration(filters={"access": Access("t1")})
        assert calibration is not None
        quantiles.append(calibration.probe_quantile)
        ws.close()
    assert quantiles[0] == quantiles[1]


def test_another_tenants_size_does_not_decide_when_a_readers_calibration_is_stale(embedder, tmp_path):
    """The attack (review): acme's calibration, made on 3 pages, was kept after acme grew to 15
    when another tenant held 200 pages (the store's count moved by less than a tenth), and made
    again when acme was alone: acme's refusals followed the neighbour's size, and told it apart."""
    acme = {"access": Access("acme")}
    for neighbour in (0, 200):
        ws = Workspace(settings=Settings(data_dir=tmp_path / f"n{neighbour}"), embedder=embedder)
        if neighbour:
            ws.ingest_records(records("n", "shipping", neighbour), access=Access("big"))
        ws.ingest_records(records("a", "expenses", 3), access=Access("acme"))
        first = ws.calibration(filters=acme)
        ws.ingest_records(records("b", "weather", 12), access=Access("acme"))  # acme grows from 3 pages to 15
        kept = ws.calibration(filters=acme)
        ws.close()
        assert (first.chunks, kept.chunks) == (3, 15), neighbour  # made again, on acme's own passages
