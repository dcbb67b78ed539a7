#!/usr/bin/env bash
# The Debian packages that `make test` needs beyond Python (it runs this first).
# Present: nothing happens, no apt call (one dpkg-query, a few milliseconds).
# Missing and root (CI runs as root on a new machine): apt-get installs them.
# Missing and not root: stops, naming the command to run.
set -euo pipefail

# One package a line. Nothing else may be needed: CI's fresh machine has only what this installs.
PACKAGES=(
    chromium  # /usr/bin/chromium for tests/ui (Playwright drives it; never `playwright install`)
    # The PostgreSQL store's tests will add: postgresql-15 postgresql-15-pgvector
)

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        # db:Status-Abbrev is "ii " for an installed package; an unknown one makes dpkg-query fail.
        [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null)" == "ii "* ]] || echo "$pkg"
    done
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

main() {
    if ! command -v dpkg-query >/dev/null; then
        echo "system-deps: not a Debian system; install these (Debian package names): ${PACKAGES[*]}" >&2
        exit 1
    fi
    local missing
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]})) || exit 0
    if [[ "$(id -u)" != 0 ]]; then
        echo "system-deps: missing Debian packages: ${missing[*]}. Install them as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        echo "(or run the tests without them: make install-dev && .venv/bin/python -m pytest;" \
             "the tests that need them are then skipped)" >&2
        exit 1
    fi
    echo "system-deps: installing ${missing[*]}"
    install "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        echo "system-deps: still missing after apt-get install: ${missing[*]}" >&2
        exit 1
    fi
}

main "$@"
