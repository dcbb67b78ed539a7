"""store/factory.py: which store a URL opens, where `[store] url` and RAGWRIGHT_STORE_URL come
from, and the errors for a URL it cannot use."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ragwright import ConfigError, Settings, StoreError, TextRecord, Workspace, load_settings
from ragwright.store import SqliteStore
from ragwright.store.contract import Store
from ragwright.store.factory import location, open_store, sqlite_path


def test_no_url_opens_the_sqlite_file_in_the_data_dir(tmp_path: Path):
    store = open_store("", default_path=tmp_path / "d" / "ragwright.db")
    try:
        assert isinstance(store, SqliteStore) and isinstance(store, Store)
        assert (tmp_path / "d" / "ragwright.db").is_file()
    finally:
        store.close()


@pytest.mark.parametrize("form", ["sqlite:///{p}", "sqlite:////{p}", "SQLite:///{p}"])
def test_a_sqlite_url_names_an_absolute_path(tmp_path: Path, form: str):
    path = tmp_path / "elsewhere" / "my store.db"
    url = form.format(p=str(path).lstrip("/")).replace(" ", "%20")
    assert sqlite_path(url) == path
    store = open_store(url, default_path=tmp_path / "unused.db")
    try:
        store.set_meta("k", "v")
        assert path.is_file() and not (tmp_path / "unused.db").exists()
    finally:
        store.close()


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:sub/x.db") == Path("sub/x.db")
    open_store("sqlite:sub/x.db").close()
    assert (tmp_path / "sub" / "x.db").is_file()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://ann:hunter2@db.example/rag", "unknown scheme 'mysql'"),
        ("/var/lib/ragwright.db", "no scheme"),
        ("sqlite://db.example/x.db", "a host is not allowed"),
        ("sqlite:", "no file named"),
    ],
)
def test_a_url_it_cannot_use_is_a_config_error_with_the_password_masked(url: str, said: str, tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        open_store(url, default_path=tmp_path / "x.db")
    message = str(caught.value)
    assert said in message and "sqlite:///PATH or postgresql://" in message
    assert "hunter2" not in message and "\n" not in message
    assert not list(tmp_path.iterdir())  # nothing was created


def test_location_names_the_file_or_the_masked_url(tmp_path: Path):
    assert location("", tmp_path / "a.db") == str(tmp_path / "a.db")
    assert location("sqlite:///srv/x.db", tmp_path) == "/srv/x.db"
    assert location("postgresql://ann:hunter2@db:5432/rag", tmp_path) == "postgresql://ann:***@db:5432/rag"


def test_store_url_from_the_toml_file_and_the_environment_which_wins(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("RAGWRIGHT_STORE_URL", raising=False)
    monkeypatch.delenv("RAGWRIGHT_STORE__URL", raising=False)
    toml = tmp_path / "ragwright.toml"
    toml.write_text('[store]\nurl = "sqlite:///from/toml.db"\n')
    assert load_settings(toml).store.url == "sqlite:///from/toml.db"
    assert Settings().store.url == ""
    monkeypatch.setenv("RAGWRIGHT_STORE_URL", "sqlite:///from/env.db")
    assert load_settings(toml).store.url == "sqlite:///from/env.db"


def test_the_workspace_opens_the_store_the_url_names(tmp_path: Path, embedder, monkeypatch):
    monkeypatch.setenv("RAGWRIGHT_STORE_URL", f"sqlite:///{tmp_path}/shared/rw.db")
    with Workspace(tmp_path / "data", embedder=embedder) as ws:
        ws.ingest_records([TextRecord("note", "A short note about the store factory.")])
        assert [r.doc_id for r in ws.search("store factory", k=1)] == ["note"]
        assert (tmp_path / "shared" / "rw.db").is_file()
        assert not (tmp_path / "data" / "ragwright.db").exists()
        index = ws._eval_index("beir", "fingerprint", None).workspace  # evaluation indexes stay local SQLite files
        assert index.settings.store.url == ""


def test_an_unreachable_postgresql_is_a_store_error_naming_the_masked_url():
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://ann:hunter2@127.0.0.1:1/rag")
    message = str(caught.value)
    assert "postgresql://ann:***@127.0.0.1:1/rag" in message and "hunter2" not in message and "\n" not in message


def test_a_postgresql_url_opens_the_postgresql_store(postgres_url: str, tmp_path: Path):
    import psycopg

    database = f"factory_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        for scheme in ("postgresql", "postgres"):
            url = scheme + postgres_url.rsplit("/", 1)[0].removeprefix("postgresql") + "/" + database
            store = open_store(url, default_path=tmp_path / "unused.db")
            try:
                assert isinstance(store, Store) and not isinstance(store, SqliteStore)
                store.set_meta("opened", scheme)
                assert store.get_meta("opened") == scheme
            finally:
                store.close()
        assert not (tmp_path / "unused.db").exists()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
