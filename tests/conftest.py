"""Shared fixtures: one warm embedder for the session, fresh workspaces, generated files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragwright import Settings, Workspace
from ragwright.models.embedding import LocalMiniLM

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = REPO / "examples" / "sample-corpus"
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(name: str) -> Path:
    """A dataset from ../shared/data: skipped with a reason on a user's checkout, required in CI."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must have ../shared/data")
        pytest.skip(f"{path} not present (the shared evaluation data is not part of a user's checkout)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _local_model_servers(tmp_path_factory: pytest.TempPathFactory):
    """A `provider = "local"` server outlives the command that starts it (models/local_shared.py):
    the tests' one is recorded in a folder of the session's own, and stopped when the session ends."""
    folder = tmp_path_factory.mktemp("runtime")
    folder.chmod(0o700)
    os.environ["RAGWRIGHT_RUNTIME_DIR"] = str(folder)
    yield folder
    from ragwright.models.local_shared import stop_shared

    stop_shared()


@pytest.fixture(scope="session")
def embedder() -> LocalMiniLM:
    model = LocalMiniLM()
    model.warm_up()
    return model


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def workspace(settings: Settings, embedder: LocalMiniLM):
    ws = Workspace(settings=settings, embedder=embedder)
    yield ws
    ws.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the bundled sample corpus (every supported format)."""
    import shutil

    dest = tmp_path / "corpus"
    shutil.copytree(SAMPLE_CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster with pgvector for the session (tests/pg.py), as a URL.
    Not installed: skipped with the reason on a user's machine, a failure under CI. Installed but
    failing to start: always an error, never a skip."""
    from tests import pg

    pg.require()
    cluster = pg.start()
    yield cluster.url
    pg.stop(cluster)
