"""API keys over HTTP, for a tenant's administrators: create (the secret is in that one response,
and nowhere after), list (never the secret or its hash), revoke.

A key belongs to one tenant and there is no key above the tenants: an `admin` key administers its
own tenant (it already reads every document of it whatever the groups), so it makes, sees and
revokes only that tenant's keys. Keys for another tenant are the operator's, with `ragwright keys`
on the server's data dir. A key of another tenant is answered as an unknown one (404), so an admin
cannot learn which key ids exist elsewhere. A key made here is limited at least as tightly as the
key that makes it: a rate-limited admin cannot mint itself an unlimited key."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .auth import Principal, create_key, group_names
from .deps import ApiError, require, state_of

router = APIRouter(tags=["keys"])
PUBLIC_FIELDS = ("key_id", "tenant", "scopes", "groups", "name", "rate_per_min", "created_at", "revoked_at")


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    tenant: str | None = Field(
        None, min_length=1, max_length=200, description="the caller's own tenant (the default); no other is allowed"
    )
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    groups: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=100, description="groups whose documents the key reads, besides ungrouped ones"
    )
    name: str = Field("", max_length=200, description="a label for people")
    rate_per_min: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="requests per minute; at most the calling key's own limit, which is the default when it has one",
    )


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """Only the named fields: the store's row may grow (a hash column) without reaching a response."""
    return {name: row.get(name) for name in PUBLIC_FIELDS}


def _tenant_keys(request: Request, principal: Principal) -> list[dict[str, Any]]:
    return [row for row in state_of(request).ws.store.list_api_keys() if row["tenant"] == principal.tenant]


def _rate_for(body: KeyBody, principal: Principal) -> int | None:
    limit = principal.rate_per_min
    if limit is None or body.rate_per_min is None:
        return body.rate_per_min or limit
    if body.rate_per_min > limit:
        raise ApiError(
            403, "forbidden", f"rate_per_min {body.rate_per_min} is above this key's own limit of {limit} a minute"
        )
    return body.rate_per_min


@router.post("/keys", status_code=201)
def create(
    body: KeyBody, request: Request, response: Response, principal: Principal = Depends(require("admin"))
) -> dict[str, Any]:
    """Make a key of the caller's tenant. The response holds the key itself, shown this once (only
    its sha256 is stored): keep it now."""
    if body.tenant is not None and body.tenant.strip() != principal.tenant:
        raise ApiError(
            403,
            "forbidden",
            f"an admin key manages only its own tenant's keys ('{principal.tenant}'); keys of another tenant are "
            "made by the operator: ragwright keys create --tenant T",
        )
    if any(not g.strip() for g in body.groups):
        raise ApiError(422, "invalid_request", "groups: each must be a non-empty name")
    try:
        groups = group_names(body.groups)  # no comma, no control character (a scope joins them by line)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    rate = _rate_for(body, principal)
    scopes = list(dict.fromkeys(body.scopes))  # each once, in the order given
    made = create_key(state_of(request).ws.store, principal.tenant, scopes, groups, body.name, rate)
    response.headers["Cache-Control"] = "no-store"  # no proxy or browser cache keeps the secret
    return {
        "key_id": made["id"],
        "key": made["key"],
        "tenant": made["tenant"],
        "scopes": made["scopes"],
        "groups": made["groups"],
        "name": body.name,
        "rate_per_min": rate,
    }


@router.get("/keys")
def list_keys(request: Request, principal: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """The tenant's keys, revoked ones included, oldest first: never a key or its hash."""
    return {"keys": [_public(row) for row in _tenant_keys(request, principal)]}


@router.delete("/keys/{key_id}")
def revoke(key_id: str, request: Request, principal: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """Revoke a key of the tenant: every request with it is refused (401) from now on, by every
    process and replica at its next lookup. Unknown, another tenant's, and revoked already: 404."""
    ours = any(row["key_id"] == key_id and not row["revoked_at"] for row in _tenant_keys(request, principal))
    if not ours or not state_of(request).ws.store.revoke_api_key(key_id):
        raise ApiError(404, "not_found", f"no active key '{key_id}' in this tenant")
    return {"revoked": key_id}
