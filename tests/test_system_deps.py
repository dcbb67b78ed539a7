"""scripts/system-deps.sh, which `make test` runs first, against stand-ins for dpkg-query, apt-cache,
apt-get, id and make, on a fake root (SYSTEM_DEPS_ROOT): the real ones would install packages and
build pgvector, and CI's machine must not depend on luck."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "system-deps.sh"
BASH = shutil.which("bash") or "/bin/bash"
PACKAGES = ["chromium", "postgresql-15"]
BUILD_PACKAGES = ["postgresql-server-dev-15", "make", "gcc", "dpkg-dev"]
CONTROL = "usr/share/postgresql/15/extension/vector.control"
LIBRARY = "usr/lib/postgresql/15/lib/vector.so"
SOURCES = "etc/apt/sources.list.d/ragwright-trixie-src.sources"
PIN = "etc/apt/preferences.d/ragwright-trixie"
MIRROR = "http://mirror.invalid/debian/"

# Each stand-in uses bash builtins only, so PATH can hold nothing but them (and mktemp and rm).
# State: installed (one package a line), known (packages the apt lists have), fail_once (an install
# that fails the first time, as one from stale lists does), uid, source_version (of the pgvector
# that `apt-get source` fetches), calls (what apt-get and make were asked, `-o` options left out).
STUBS = {
    "node": "exit 0",  # on PATH: the script leaves Node.js alone (test_no_node_on_path_... removes them)
    "npm": "exit 0",
    "id": 'echo "$(<"$STATE/uid")"',
    "dpkg-query": """pkg=${@: -1}
[[ $'\\n'"$(<"$STATE/installed")"$'\\n' == *$'\\n'"$pkg"$'\\n'* ]] || exit 1
printf 'ii '""",
    "apt-cache": """pkg=${@: -1}
if [[ $'\\n'"$(<"$STATE/known")"$'\\n' == *$'\\n'"$pkg"$'\\n'* ]]; then
  echo "$pkg:"; echo "  Installed: (none)"; echo "  Candidate: 1.0"
else echo "  Candidate: (none)"; fi""",
    "apt-get": """args=()
while (($#)); do if [[ $1 == -o ]]; then opts+="$2 "; shift 2; else args+=("$1"); shift; fi; done
echo "${args[*]}" >> "$STATE/calls"
for arg in "${args[@]}"; do [[ $arg == -* ]] || { command=$arg; break; }; done
case $command in
  update) [[ $opts == *SourceList=$SYSTEM_DEPS_ROOT/etc/apt/sources.list.d/ragwright-trixie-src.sources* ]] \\
            || printf '%s\\n' chromium postgresql-15 postgresql-server-dev-15 make gcc dpkg-dev > "$STATE/known"
          exit 0 ;;
  indextargets) echo "deb bookworm-security http://security.invalid/debian-security/"
                . "$SYSTEM_DEPS_ROOT/etc/os-release"; echo "deb $VERSION_CODENAME MIRROR"; exit 0 ;;
  source) [[ $opts == *SourceParts=-* ]] || exit 3  # only trixie's entry may be seen
          version=$(<"$STATE/source_version"); echo "Version: $version" > "pgvector_$version.dsc"
          folder=pgvector-${version%%-*}; mkdir "$folder"; : > "$folder/Makefile"; exit 0 ;;
esac
if [[ -e $STATE/fail_once && ! -e $STATE/failed ]]; then : > "$STATE/failed"; exit 100; fi
for arg in "${args[@]}"; do [[ $arg == -* || $arg == install ]] || echo "$arg" >> "$STATE/installed"; done
""".replace("MIRROR", MIRROR),
    "make": """echo "make $*" >> "$STATE/calls"
while (($#)); do [[ $1 == -C ]] && folder=$2; [[ $1 == install ]] && install=1; shift; done
[[ -e $folder/Makefile ]] || exit 2
if [[ -n $install ]]; then
  echo "default_version = '0.8.0'" > "$SYSTEM_DEPS_ROOT/CONTROL"; : > "$SYSTEM_DEPS_ROOT/LIBRARY"
fi""".replace("CONTROL", CONTROL).replace("LIBRARY", LIBRARY),
}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    calls: list[str]  # apt-get's and make's
    root: Path

    @property
    def apt_calls(self) -> list[str]:
        return [c for c in self.calls if not c.startswith("make ")]


@pytest.fixture
def machine(tmp_path):
    """A fake Debian machine; returns a function that runs the script on it with the given state."""
    bin_dir, state, root = tmp_path / "bin", tmp_path / "state", tmp_path / "root"
    for folder in (bin_dir, state, *(root / Path(p).parent for p in (CONTROL, LIBRARY, SOURCES, PIN))):
        folder.mkdir(parents=True, exist_ok=True)
    for name, body in STUBS.items():
        stub = bin_dir / name
        stub.write_text(f"#!{BASH}\n{body}\n")
        stub.chmod(0o755)
    for tool in ("mktemp", "rm", "mkdir"):
        (bin_dir / tool).symlink_to(shutil.which(tool))

    def run(
        *,
        installed=(),
        known=(*PACKAGES, *BUILD_PACKAGES),
        uid=0,
        fail_once=False,
        path=None,
        pgvector=True,
        source_version="0.8.0-1",
        codename="bookworm",
    ) -> Run:
        (state / "installed").write_text("".join(f"{p}\n" for p in installed))
        (state / "known").write_text("".join(f"{p}\n" for p in known))
        (state / "uid").write_text(str(uid))
        (state / "source_version").write_text(source_version)
        (root / "etc" / "os-release").write_text(f"ID=debian\nVERSION_CODENAME={codename}\n")
        if fail_once:
            (state / "fail_once").touch()
        if pgvector:
            (root / CONTROL).write_text("default_version = '0.8.0'\n")
            (root / LIBRARY).touch()
        env = {"PATH": str(path or bin_dir), "STATE": str(state), "SYSTEM_DEPS_ROOT": str(root)}
        done = subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, cwd=state)
        calls = state / "calls"
        return Run(
            done.returncode, done.stdout, done.stderr, calls.read_text().splitlines() if calls.exists() else [], root
        )

    return run


def install_call(*packages: str) -> str:
    return "install -y -qq --no-install-recommends " + " ".join(packages)


def test_everything_present_makes_no_apt_call(machine):
    run = machine(installed=PACKAGES, uid=1000)
    assert (run.code, run.calls, run.stderr) == (0, [], "")


def test_missing_as_root_installs_without_recommends(machine):
    run = machine()
    assert run.code == 0, run.stderr
    assert run.calls == [install_call(*PACKAGES)]


def test_lists_without_the_package_are_updated_first(machine):
    run = machine(known=())  # a new machine: no apt lists yet
    assert run.code == 0, run.stderr
    assert run.calls == ["update -qq", install_call(*PACKAGES)]


def test_an_install_from_stale_lists_is_retried_after_an_update(machine):
    run = machine(fail_once=True)
    assert run.code == 0, run.stderr
    assert run.calls == [install_call(*PACKAGES), "update -qq", install_call(*PACKAGES)]


def test_no_node_on_path_installs_debian_nodejs_and_npm(machine, tmp_path):
    """make test-ts needs node and npm: Debian's are installed only when none is on PATH."""
    bare = tmp_path / "bare"
    bare.mkdir()
    for tool in (tmp_path / "bin").iterdir():
        if tool.name not in ("node", "npm"):
            (bare / tool.name).symlink_to(tool)
    run = machine(path=bare, known=(*PACKAGES, "nodejs", "npm"))
    assert run.code == 0, run.stderr
    assert run.calls == [install_call(*PACKAGES, "nodejs", "npm")]


def test_missing_without_root_names_the_command_and_installs_nothing(machine):
    run = machine(uid=1000)
    assert run.code == 1
    assert install_call(*PACKAGES).replace(" -qq", "") in run.stderr
    assert run.calls == []


def test_not_debian_names_the_packages(machine, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    run = machine(path=empty)  # no dpkg-query at all
    assert run.code == 1
    assert "not a Debian system" in run.stderr and "chromium" in run.stderr and "pgvector" in run.stderr


def test_missing_pgvector_is_built_from_trixie_sources_pinned_away(machine):
    run = machine(installed=PACKAGES, pgvector=False)
    assert run.code == 0, run.stderr
    make = "make -s -C {} OPTFLAGS= with_llvm=no PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config"
    assert [c.replace(c.split()[3], "{}") if c.startswith("make") else c for c in run.calls] == [
        install_call(*BUILD_PACKAGES),
        "indextargets --format $(TARGET_OF) $(RELEASE) $(REPO_URI)",
        "update -qq",
        "-qq source pgvector/trixie",
        make + " -j 2",
        make + " install",
    ]
    assert run.calls[-1].split()[3].endswith("/pgvector-0.8.0")
    assert (run.root / CONTROL).exists() and (run.root / LIBRARY).exists()
    sources = (run.root / SOURCES).read_text()
    assert "Types: deb-src\n" in sources and f"URIs: {MIRROR}\n" in sources and "Suites: trixie\n" in sources
    assert "Pin: release n=trixie\nPin-Priority: -1\n" in (run.root / PIN).read_text()


def test_a_pgvector_of_another_series_is_refused_before_building(machine):
    run = machine(installed=[*PACKAGES, *BUILD_PACKAGES], pgvector=False, source_version="0.9.1-1")
    assert run.code == 1
    assert "trixie's pgvector is '0.9.1-1', not 0.8.x" in run.stderr
    assert not any(c.startswith("make") for c in run.calls)
    assert not (run.root / CONTROL).exists()


def test_on_trixie_itself_no_pin_hides_the_machines_own_packages(machine):
    run = machine(installed=[*PACKAGES, *BUILD_PACKAGES], pgvector=False, codename="trixie")
    assert run.code == 0, run.stderr
    assert (run.root / SOURCES).exists() and (run.root / CONTROL).exists()
    assert not (run.root / PIN).exists()


def test_no_mirror_for_the_release_is_named(machine):
    run = machine(installed=[*PACKAGES, *BUILD_PACKAGES], pgvector=False, codename="")
    assert run.code == 1
    assert "apt's sources name no Debian mirror for ''" in run.stderr
    assert not any(c.startswith(("update", "-qq source", "make")) for c in run.calls)


def test_missing_pgvector_without_root_says_how_and_builds_nothing(machine):
    run = machine(installed=[*PACKAGES, *BUILD_PACKAGES], pgvector=False, uid=1000)
    assert run.code == 1
    assert "pgvector 0.8 for PostgreSQL 15 is missing" in run.stderr
    assert "run as root: bash scripts/system-deps.sh" in run.stderr
    assert run.calls == []
