"""The error shape in the OpenAPI schema. Every error the server sends is `{"error": {"type",
"message"}}` (deps.error_response); FastAPI's schema declared its own 422 instead and no other
error at all, so a client generated from it was typed against a body it never gets. The /v1
routers declare ERROR_RESPONSES (app.py), and shared_error_responses moves them into
`components.responses`, referenced by each operation: one declaration, not one per route."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """Every error response's body."""

    error: ErrorDetail


def _error(when: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": when}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {  # a router's: not each of its routes sends each
    400: _error("invalid_request (a bad option or question) or injection_blocked"),
    401: _error("unauthorized: no key, or an unknown or revoked one"),
    403: _error("forbidden: the key lacks the scope, or asks for what its tenant or groups do not cover"),
    404: _error("not_found: absent, or not visible to this key (the two look the same)"),
    413: _error("too_large: the body or an uploaded file is above the server's limit"),
    415: _error("unsupported_type: an uploaded file of a type ragwright cannot read"),
    422: _error("invalid_request: the body or a parameter is not valid"),
    429: _error(
        "rate_limited (the key's requests per minute are spent) or budget_exceeded (a model call would take "
        "a budget past its limit; nothing was sent): see Retry-After"
    ),
    500: _error("store_error (the store failed) or internal_error: the server's log has the details"),
    502: _error("upstream_error: the answering model failed"),
    503: _error(
        "store_unavailable (the database is restarting or busy) or busy (the server's asks, chats, uploads "
        "or pattern searches are all taken, or this tenant's share of them): see Retry-After"
    ),
}
_REF = {"$ref": "#/components/schemas/ErrorBody"}


def _declared(status: int | str) -> dict[str, Any]:
    """What FastAPI writes into an operation for ERROR_RESPONSES[status]."""
    return {"description": ERROR_RESPONSES[status]["description"], "content": {"application/json": {"schema": _REF}}}


def shared_error_responses(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi, with each operation's copy of an ERROR_RESPONSES entry replaced by a reference
    to one in `components.responses` (named by its status: NotFound, TooManyRequests...)."""
    build = app.openapi
    names = {str(s): HTTPStatus(int(s)).phrase.title().replace(" ", "") for s in ERROR_RESPONSES}
    declared = {str(s): _declared(s) for s in ERROR_RESPONSES}

    def openapi() -> dict[str, Any]:
        schema = build()  # FastAPI's, built once and kept: rewritten the first time only
        components = schema.setdefault("components", {})
        if "responses" in components:
            return schema
        components["responses"] = {names[s]: declared[s] for s in names}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                for status, name in names.items():
                    if responses.get(status) == declared[status]:
                        responses[status] = {"$ref": f"#/components/responses/{name}"}
        return schema

    return openapi
