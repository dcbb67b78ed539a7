"""tests/pg.py, the throwaway PostgreSQL cluster the PostgreSQL store's tests run on: missing
PostgreSQL skips a user's run and fails CI's, a cluster is really gone after stop, and stop removes
no folder it did not make."""

from __future__ import annotations

import os
import socket

import pytest

from tests import pg


@pytest.fixture
def no_postgres(monkeypatch, tmp_path):
    monkeypatch.setattr(pg, "PG_BIN", tmp_path / "nowhere")


def test_missing_postgres_is_a_skip_with_the_fix(no_postgres, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"PostgreSQL 15 is not installed.*system-deps\.sh"):
        pg.require()


def test_missing_postgres_fails_under_ci(no_postgres, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the PostgreSQL tests"):
        pg.require()


def test_stop_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "keep").write_text("mine")
    with pytest.raises(ValueError, match=r"not a folder made by tests/pg\.py"):
        pg.stop(tmp_path)
    assert (tmp_path / "keep").read_text() == "mine"


def test_a_cluster_runs_as_postgres_and_is_gone_after_stop(postgres_url):
    import psycopg

    cluster = pg.start()  # a second one beside the session's: each gets its own port
    try:
        assert cluster.url != postgres_url
        with psycopg.connect(cluster.url) as conn:
            (user,) = conn.execute("SELECT current_user").fetchone()
            assert user == "postgres"
        if os.geteuid() == 0:
            assert cluster.folder.stat().st_uid == pg.pwd.getpwnam("postgres").pw_uid
    finally:
        pg.stop(cluster)
    assert not cluster.folder.exists()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", cluster.port), 2):
        pass
