"""API keys, scopes and per-key rate limits. A key is shown once; the store keeps its sha256.
Keys are looked up in the store at every request (nothing cached here): a key revoked through
any process or replica is refused by every other at its next request.

Scopes: `read` (search, ask, chat, documents and jobs it can see), `write` (upload and delete),
`admin` (every document of its tenant whatever the groups, the audit log, evaluation runs)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.contract import KeyStore, RateLimitStore
from ..store.ratelimits import Bucket, take_token
from ..types import Access

SCOPES = ("read", "write", "admin")
_UNSEEN = ("Cc", "Cf", "Cs", "Zl", "Zp")  # control, format (bidi overrides, zero-width), surrogate, line breaks


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    tenant: str
    scopes: tuple[str, ...]
    groups: tuple[str, ...]
    rate_per_min: int | None = None

    @property
    def access(self) -> Access:
        return Access(self.tenant, self.groups, admin="admin" in self.scopes)

    def can(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    store: KeyStore,
    tenant: str,
    scopes: Sequence[str],
    groups: Sequence[str] = (),
    name: str = "",
    rate_per_min: int | None = None,
) -> dict[str, Any]:
    """Make a key, store its hash, and return it whole: the only time anyone sees it."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'})")
    if not tenant.strip():
        raise ValueError("a key needs a tenant")
    key_id = "k_" + secrets.token_hex(6)
    key = f"rw_{key_id[2:]}_{secrets.token_urlsafe(32)}"
    groups = group_names(groups)
    store.add_api_key(key_id, hash_key(key), tenant.strip(), list(scopes), groups, name, rate_per_min)
    return {"id": key_id, "key": key, "tenant": tenant.strip(), "scopes": list(scopes), "groups": groups}


def group_names(groups: Iterable[str]) -> list[str]:
    """Group names as a key or an upload takes them: stripped, empty ones left out, each once,
    sorted. A ValueError names one with a comma or a control or invisible character: the scopes a
    key's groups make (the cache's reader, an upload's folder) join them with a newline, so a
    group "a\nb" read as the groups a and b (review 13), and a comma splits a CLI or form list."""
    names = sorted({g.strip() for g in groups if g.strip()})
    for name in names:
        if "," in name or any(unicodedata.category(c) in _UNSEEN for c in name):
            raise ValueError(
                f"groups: {name!r} is not a group name: a name may not hold a comma, a line break or another "
                "control or invisible character"
            )
    return names


def principal_for(store: KeyStore, key: str) -> Principal | None:
    row = store.api_key_by_hash(hash_key(key))
    if row is None or row["revoked_at"]:
        return None
    return Principal(row["key_id"], row["tenant"], tuple(row["scopes"]), tuple(row["groups"]), row["rate_per_min"])


class RateLimiter:
    """A token bucket per key: `rate` requests per minute, bursts up to the same number."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key_id: str, per_min: int | None) -> float | None:
        """None when allowed; otherwise the seconds until a request would be."""
        if not per_min:
            return None
        now = time.monotonic()
        with self._lock:
            bucket, wait = take_token(self._buckets.get(key_id), per_min, now)
            if len(self._buckets) >= self._max_keys and key_id not in self._buckets:
                self._buckets.clear()  # bounded memory: a full table starts over (everyone gets a fresh bucket)
            self._buckets[key_id] = bucket
            return wait


class StoreRateLimiter:
    """The same buckets kept by the store (RateLimitStore): shared by a server's worker processes
    and by replicas on one database. Only keys with a limit pay for it: one short write per request."""

    def __init__(self, store: RateLimitStore) -> None:
        self.store = store

    def take(self, key_id: str, per_min: int | None) -> float | None:
        return self.store.take_rate_token(key_id, per_min) if per_min else None
