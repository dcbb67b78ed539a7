#!/usr/bin/env bash
# What `make test` needs beyond Python (it runs this first): Debian packages, and pgvector, which
# Debian 12 does not package and which is built here from Debian 13's (trixie's) source package.
# Present: nothing happens, no apt call (one dpkg-query a package and two file tests, milliseconds).
# Missing and root (CI runs as root on a new machine): apt-get installs them and pgvector is built.
# Missing and not root: stops, naming the command to run.
set -euo pipefail

# Prefixed to every system path; empty on a real machine (tests/test_system_deps.py fakes one).
ROOT=${SYSTEM_DEPS_ROOT:-}

# One package a line. Nothing else may be needed: CI's fresh machine has only what this installs.
PACKAGES=(
    chromium  # /usr/bin/chromium for tests/ui (Playwright drives it; never `playwright install`)
    postgresql-15  # the PostgreSQL store's tests start a throwaway cluster of their own (tests/pg.py)
)
# Node.js and npm for the TypeScript client's tests (make test-ts): any on PATH will do (NodeSource's
# Node 20 on these machines); Debian's only when there is none.
command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)
# Needed only to build pgvector, so installed only when it is missing (dpkg-dev: `apt-get source`).
PGVECTOR_BUILD_PACKAGES=(postgresql-server-dev-15 make gcc dpkg-dev)

# pgvector for PostgreSQL 15, where Debian's server looks for it (pg_config --sharedir, --pkglibdir).
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
PGVECTOR_CONTROL=/usr/share/postgresql/15/extension/vector.control
PGVECTOR_LIBRARY=/usr/lib/postgresql/15/lib/vector.so
# The upstream series built. Debian revisions within it are taken (a fix in trixie is a fix here);
# another series is refused, so a trixie update cannot change the extension under the tests.
PGVECTOR_SERIES=0.8
# Source packages only: the pin below keeps every binary package of trixie off this machine.
TRIXIE_SOURCES=/etc/apt/sources.list.d/ragwright-trixie-src.sources
TRIXIE_PIN=/etc/apt/preferences.d/ragwright-trixie

missing_packages() {
    local pkg
    for pkg in "$@"; do
        # db:Status-Abbrev is "ii " for an installed package; an unknown one makes dpkg-query fail.
        [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == "ii "* ]] || echo "$pkg"
    done
}

pgvector_installed() {
    [[ -f $ROOT$PGVECTOR_CONTROL && -f $ROOT$PGVECTOR_LIBRARY ]]
}

# Stale or empty package lists (a new machine has none) know no candidate: update them first.
lists_know() {
    local pkg
    for pkg in "$@"; do
        # Not `apt-cache | grep -q`: grep's early exit kills apt-cache, and pipefail reports that.
        [[ "$(apt-cache policy "$pkg" 2>/dev/null)" =~ Candidate:\ [^\(] ]] || return 1
    done
}

install() {
    export DEBIAN_FRONTEND=noninteractive
    lists_know "$@" || apt-get update -qq
    # A second try after an update: lists that name a candidate can still point at a removed file.
    apt-get install -y -qq --no-install-recommends "$@" \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; }
}

die() {
    echo "system-deps: $*" >&2
    exit 1
}

# The URI this machine takes its own release from (its mirror: no host is written in this repo).
debian_mirror() {
    local codename target release uri
    codename=$(. "$ROOT/etc/os-release" && echo "${VERSION_CODENAME:-}")
    while read -r target release uri; do
        [[ $target == deb && $release == "$codename" ]] && { echo "$uri"; return; }
    done < <(apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)')
    die "apt's sources name no Debian mirror for '$codename', so trixie's pgvector cannot be fetched"
}

# A file of its own, so removing it undoes this; `apt-get update` fetches its Sources index too.
add_trixie_sources() {
    local mirror own_release
    mirror=$(debian_mirror)
    own_release=$(. "$ROOT/etc/os-release" && echo "${VERSION_CODENAME:-}")
    printf '%s\n' "# Written by ragwright's scripts/system-deps.sh: pgvector's source package, built there." \
        "Types: deb-src" "URIs: $mirror" "Suites: trixie" "Components: main" \
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" >"$ROOT$TRIXIE_SOURCES"
    # On trixie itself a -1 pin would hide the machine's own packages.
    [[ $own_release == trixie ]] && return
    printf '%s\n' "# Written by ragwright's scripts/system-deps.sh beside $TRIXIE_SOURCES:" \
        "# no binary package is ever taken from trixie." \
        "Package: *" "Pin: release n=trixie" "Pin-Priority: -1" >"$ROOT$TRIXIE_PIN"
}

# apt-get seeing trixie's entry alone: its update leaves the other lists alone (and is fast), and
# `source` cannot pick a pgvector from anywhere else.
apt_trixie() {
    apt-get -o Dir::Etc::SourceList="$ROOT$TRIXIE_SOURCES" -o Dir::Etc::SourceParts=- \
        -o APT::Get::List-Cleanup=0 "$@"
}

# What `apt-get source` fetched into $1, checked against the series; prints its unpacked folder.
fetched_source() {
    local work=$1 dsc key value version=
    dsc=("$work"/pgvector_*.dsc)
    [[ ${#dsc[@]} == 1 && -f ${dsc[0]} ]] || die "apt-get source fetched no pgvector .dsc"
    while read -r key value; do
        [[ $key == Version: ]] && { version=$value; break; }
    done <"${dsc[0]}"
    [[ $version == "$PGVECTOR_SERIES".* ]] \
        || die "trixie's pgvector is '$version', not $PGVECTOR_SERIES.x: check it, then change PGVECTOR_SERIES"
    local folder=$work/pgvector-${version%%-*}  # 0.8.0-1+deb13u1 unpacks into pgvector-0.8.0
    [[ -f $folder/Makefile ]] || die "apt-get source left no $folder/Makefile"
    echo "$folder"
}

# OPTFLAGS="": no -march=native, so the library runs on any x86-64 (Debian's patch drops it too).
# with_llvm=no: no JIT bitcode, which only clang can build, and which doubles the build time.
build_pgvector() {
    local work folder
    work=$(mktemp -d)
    # shellcheck disable=SC2064  # expanded now: $work is local
    trap "rm -rf '$work'" EXIT
    echo "system-deps: building pgvector $PGVECTOR_SERIES from Debian trixie's source package"
    add_trixie_sources
    apt_trixie update -qq
    (cd "$work" && apt_trixie -qq -o APT::Sandbox::User=root source pgvector/trixie >/dev/null)
    folder=$(fetched_source "$work")
    local make_args=(-s -C "$folder" OPTFLAGS= with_llvm=no PG_CONFIG="$PG_CONFIG")
    make "${make_args[@]}" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
    make "${make_args[@]}" install >/dev/null
    pgvector_installed || die "pgvector built, but $PGVECTOR_CONTROL or $PGVECTOR_LIBRARY is missing"
}

main() {
    command -v dpkg-query >/dev/null \
        || die "not a Debian system; install these (Debian package names): ${PACKAGES[*]}, and pgvector $PGVECTOR_SERIES for PostgreSQL 15"
    local missing build=()
    pgvector_installed || build=("${PGVECTOR_BUILD_PACKAGES[@]}")
    mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${build[@]}")
    ((${#missing[@]} + ${#build[@]})) || exit 0
    if [[ "$(id -u)" != 0 ]]; then
        ((${#missing[@]})) && {
            echo "system-deps: missing Debian packages: ${missing[*]}. Install them as root:" >&2
            echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        }
        ((${#build[@]})) && echo "system-deps: pgvector $PGVECTOR_SERIES for PostgreSQL 15 is missing;" \
            "to build it, run as root: bash scripts/system-deps.sh" >&2
        echo "(or run the tests without them: make install-dev && .venv/bin/python -m pytest;" \
             "the tests that need them are then skipped)" >&2
        exit 1
    fi
    if ((${#missing[@]})); then
        echo "system-deps: installing ${missing[*]}"
        install "${missing[@]}"
        mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${build[@]}")
        ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
    fi
    ((${#build[@]} == 0)) || build_pgvector
}

main "$@"
