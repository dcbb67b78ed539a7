"""scripts/system-deps.sh, which `make test` runs first, against stand-ins for dpkg-query, apt-cache,
apt-get and id: the real ones would install packages, and CI's machine must not depend on luck."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"

# Each stand-in uses bash builtins only, so PATH can hold nothing but them.
# State: installed (one package a line), known (packages the apt lists have), fail_once (an install
# that fails the first time, as one from stale lists does), uid, and calls (what apt-get was asked).
STUBS = {
    "id": 'echo "$(<"$STATE/uid")"',
    "dpkg-query": """pkg=${@: -1}
[[ $'\\n'"$(<"$STATE/installed")"$'\\n' == *$'\\n'"$pkg"$'\\n'* ]] || exit 1
printf 'ii '""",
    "apt-cache": """pkg=${@: -1}
if [[ $'\\n'"$(<"$STATE/known")"$'\\n' == *$'\\n'"$pkg"$'\\n'* ]]; then
  echo "$pkg:"; echo "  Installed: (none)"; echo "  Candidate: 1.0"
else echo "  Candidate: (none)"; fi""",
    "apt-get": """echo "$*" >> "$STATE/calls"
if [[ $1 == update ]]; then echo chromium > "$STATE/known"; exit 0; fi
if [[ -e $STATE/fail_once && ! -e $STATE/failed ]]; then : > "$STATE/failed"; exit 100; fi
for arg in "$@"; do [[ $arg == -* || $arg == install ]] || echo "$arg" >> "$STATE/installed"; done""",
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    apt_calls: list[str]


@pytest.fixture
def machine(tmp_path):
    """A fake Debian machine; returns a function that runs the script on it with the given state."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(f"#!{BASH}\n{body}\n")
        stub.chmod(0o755)

    def run(*, installed=(), known=("chromium",), uid=0, fail_once=False, path=None) -> Run:
        (state / "installed").write_text("".join(f"{p}\n" for p in installed))
        (state / "known").write_text("".join(f"{p}\n" for p in known))
        (state / "uid").write_text(str(uid))
        if fail_once:
            (state / "fail_once").touch()
        env = {"PATH": str(path or bin_dir), "STATE": str(state)}
        done = subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
        calls = state / "calls"
        return Run(done.returncode, done.stdout, done.stderr,
                   calls.read_text().splitlines() if calls.exists() else [])

    return run


def test_everything_present_makes_no_apt_call(machine):
    run = machine(installed=["chromium"], uid=1000)
    assert (run.code, run.apt_calls, run.stderr) == (0, [], "")


def test_missing_as_root_installs_without_recommends(machine):
    run = machine()
    assert run.code == 0, run.stderr
    assert run.apt_calls == ["install -y -qq --no-install-recommends chromium"]


def test_lists_without_the_package_are_updated_first(machine):
    run = machine(known=())  # a new machine: no apt lists yet
    assert run.code == 0, run.stderr
    assert run.apt_calls == ["update -qq", "install -y -qq --no-install-recommends chromium"]


def test_an_install_from_stale_lists_is_retried_after_an_update(machine):
    run = machine(fail_once=True)
    assert run.code == 0, run.stderr
    assert run.apt_calls == ["install -y -qq --no-install-recommends chromium", "update -qq",
                             "install -y -qq --no-install-recommends chromium"]


def test_missing_without_root_names_the_command_and_installs_nothing(machine):
    run = machine(uid=1000)
    assert run.code == 1
    assert "apt-get install -y --no-install-recommends chromium" in run.stderr
    assert run.apt_calls == []


def test_not_debian_names_the_packages(machine, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = machine(path=empty)  # no dpkg-query at all
    assert run.code == 1
    assert "not a Debian system" in run.stderr and "chromium" in run.stderr
