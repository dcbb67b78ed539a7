"""BEIR-layout datasets: corpus.jsonl, queries.jsonl (or queries_<split>.jsonl), qrels/<split>.tsv."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import RagwrightError
from ..ingest import TextRecord


class DatasetError(RagwrightError):
    """A dataset folder that is missing a file or holds a malformed line."""


@dataclass(slots=True)
class BeirDataset:
    path: Path
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def corpus_path(self) -> Path:
        return self.path / "corpus.jsonl"

    def corpus(self) -> Iterator[TextRecord]:
        with self.corpus_path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    yield TextRecord(id=str(row["_id"]), text=row.get("text") or "", title=row.get("title") or "")
                except (ValueError, KeyError, TypeError) as exc:
                    raise DatasetError(f"{self.corpus_path}:{n}: not a corpus line ({exc})") from exc

    def fingerprint(self) -> str:
        """sha256 of the corpus, the queries and the qrels used: a run says exactly what it measured."""
        h = hashlib.sha256()
        with self.corpus_path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(json.dumps([self.queries, self.qrels], sort_keys=True).encode())
        return h.hexdigest()


def load_beir(path: Path, split: str = "test") -> BeirDataset:
    path = Path(path)
    qrels_path = path / "qrels" / f"{split}.tsv"
    for needed in (path / "corpus.jsonl", qrels_path):
        if not needed.is_file():
            raise DatasetError(
                f"{needed} not found: a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
            )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) != 3:
                raise DatasetError(f"{qrels_path}:{n}: expected query-id<TAB>corpus-id<TAB>score")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries: dict[str, str] = {}
    for name in (f"queries_{split}.jsonl", "queries.jsonl"):
        candidate = path / name
        if candidate.is_file():
            with candidate.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                        if str(row["_id"]) in qrels:
                            queries[str(row["_id"])] = str(row["text"])
                    except (ValueError, KeyError, TypeError) as exc:
                        raise DatasetError(f"{candidate}:{n}: not a query line ({exc!r})") from exc
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise DatasetError(f"{path}: {len(missing)} queries of qrels/{split}.tsv have no text (first: {missing[0]})")
    return BeirDataset(path, split, queries, qrels)
