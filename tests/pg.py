"""A throwaway PostgreSQL 15 cluster with pgvector, for the tests (the `postgres_url` fixture in
tests/conftest.py) and for anyone who wants one by hand:

    .venv/bin/python -m tests.pg start        # prints its URL; the folder to stop it goes to stderr
    .venv/bin/python -m tests.pg stop FOLDER

Real PostgreSQL, never a mock: Debian's postgresql-15 and pgvector built from source, both installed
by scripts/system-deps.sh (as root; `make test` runs it). The cluster lives in a temporary folder,
listens on 127.0.0.1 at a free port, runs as the `postgres` user when started by root (PostgreSQL
refuses root; else as whoever starts it), trusts every local connection, and is removed on stop.
It never touches the machine's own clusters (`pg_lsclusters`)."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("RAGWRIGHT_PG_BIN", "/usr/lib/postgresql/15/bin"))  # Debian's layout
SETUP_HINT = "as root, `bash scripts/system-deps.sh` installs PostgreSQL 15 and builds pgvector"
# Durability off (a throwaway cluster: a crash loses nothing anyone needs); connections for
# several pools and replicas at once.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
START_TIMEOUT_S = 60
PREFIX = "ragwright-pg-"  # stop() removes only folders so named: `stop /home` must not rmtree /home


class StartError(RuntimeError):
    """The cluster was installed but did not start; the message holds the end of its log."""


@dataclass(frozen=True)
class Cluster:
    folder: Path  # data/, postgres.log and the Unix socket; owned by the user the server runs as
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def missing() -> str | None:
    """What keeps a cluster from starting here, in words, or None when everything is installed."""
    for tool in ("initdb", "pg_ctl", "psql", "pg_config"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL 15 is not installed ({PG_BIN / tool} not found)"
    sharedir = _output([str(PG_BIN / "pg_config"), "--sharedir"])
    if not (Path(sharedir) / "extension" / "vector.control").exists():
        return f"pgvector is not installed for PostgreSQL 15 (no {sharedir}/extension/vector.control)"
    if os.geteuid() == 0 and not _postgres_user():
        return "there is no `postgres` user to run PostgreSQL as (PostgreSQL refuses to run as root)"
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install --no-deps -r requirements/postgres.txt)"
    return None


def require() -> None:
    """Skip the calling test when a cluster cannot start here, with the reason and the fix; under
    CI=true fail it instead: CI must run the PostgreSQL tests."""
    import pytest

    if reason := missing():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests ({SETUP_HINT})")
        pytest.skip(f"{reason} ({SETUP_HINT})")


def start() -> Cluster:
    """initdb, start on a free port (tried again if another process takes it first), CREATE EXTENSION
    vector; a cluster that fails half-way is stopped and its folder removed."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    user = _postgres_user() if os.geteuid() == 0 else None
    if user:
        os.chown(folder, user.pw_uid, user.pw_gid)
    try:
        _as_server_user(
            folder,
            [
                PG_BIN / "initdb",
                "-D",
                folder / "data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
        )
        cluster = _start_on_free_port(folder)
        _as_server_user(
            folder, [PG_BIN / "psql", cluster.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", "CREATE EXTENSION vector"]
        )
        return cluster
    except BaseException:
        stop(folder)
        raise


def stop(cluster_or_folder: Cluster | Path) -> None:
    """Stop the server at once (nothing in it is kept) and remove its folder."""
    folder = cluster_or_folder.folder if isinstance(cluster_or_folder, Cluster) else cluster_or_folder
    if not folder.name.startswith(PREFIX):
        raise ValueError(f"{folder} is not a folder made by tests/pg.py (its name starts with {PREFIX})")
    if (folder / "data" / "postmaster.pid").exists():
        _as_server_user(
            folder, [PG_BIN / "pg_ctl", "-D", folder / "data", "-m", "immediate", "-w", "stop"], check=False
        )
    shutil.rmtree(folder, ignore_errors=True)


def pause(cluster: Cluster) -> None:
    """Stop the server at once, as a crash would, keeping its data (a fault test's restart)."""
    _as_server_user(cluster.folder, [PG_BIN / "pg_ctl", "-D", cluster.folder / "data", "-m", "immediate", "-w", "stop"])


def resume(cluster: Cluster) -> None:
    """Start a paused server again on its port."""
    done = _pg_ctl_start(cluster)
    if done.returncode != 0:
        raise StartError(f"PostgreSQL did not start again in {cluster.folder}: {done.stderr.strip()}")


def _pg_ctl_start(cluster: Cluster) -> subprocess.CompletedProcess[str]:
    folder = cluster.folder
    options = " ".join([f"-p {cluster.port}", f"-k {folder}"] + [f"-c {k}={v}" for k, v in SETTINGS.items()])
    return _as_server_user(
        folder,
        [
            PG_BIN / "pg_ctl",
            "-D",
            folder / "data",
            "-l",
            folder / "postgres.log",
            "-o",
            options,
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        ],
        check=False,
    )


def _start_on_free_port(folder: Path, attempts: int = 3) -> Cluster:
    log = folder / "postgres.log"
    for _ in range(attempts):
        cluster = Cluster(folder, _free_port())
        done = _pg_ctl_start(cluster)
        if done.returncode == 0:
            return cluster
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else done.stderr
        if "could not bind" not in tail:  # only a port taken between the check and the start is retried
            break
    raise StartError(f"PostgreSQL did not start in {folder}: {done.stderr.strip()}\n{tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def _as_server_user(folder: Path, argv: list, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool as the user the server runs as, from its folder (postgres may not be
    allowed into the caller's working directory)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    done = subprocess.run(
        prefix + [str(a) for a in argv], cwd=folder, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30
    )
    if check and done.returncode != 0:
        raise StartError(f"{Path(argv[0]).name} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")
    return done


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["start"] and len(argv) == 1:
            if reason := missing():
                raise StartError(f"{reason}; {SETUP_HINT}")
            cluster = start()
            print(cluster.url)
            print(f"stop it with: .venv/bin/python -m tests.pg stop {cluster.folder}", file=sys.stderr)
            return 0
        if argv[:1] == ["stop"] and len(argv) == 2:
            stop(Path(argv[1]))
            return 0
    except (StartError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print("usage: python -m tests.pg start | stop FOLDER", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
