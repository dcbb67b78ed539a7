"""API keys over HTTP (server/keys_api.py): an admin key makes, lists and revokes its own tenant's
keys; the secret is in the creating response only (never in a list, nor the audit log); keys of
other scopes are refused, and an admin of one tenant can neither make, see nor revoke another's
keys. Also: the OpenAPI schema declares the error shape the server really sends."""

import json

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key, hash_key
from ragwright.server.error_schema import ErrorBody


@pytest.fixture
def ws(tmp_path, embedder):
    workspace = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    yield workspace
    workspace.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def make(ws: Workspace, tenant: str, scopes: list[str], rate: int | None = None) -> str:
    return create_key(ws.store, tenant, scopes, rate_per_min=rate)["key"]


def test_create_use_list_revoke_and_the_secret_is_shown_once(ws):
    admin = make(ws, "acme", ["read", "write", "admin"])
    with TestClient(create_app(workspace=ws)) as client:
        made = client.post(
            "/v1/keys", json={"scopes": ["read"], "groups": ["hr"], "name": "bot"}, headers=bearer(admin)
        )
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        new = made.json()
        assert new["tenant"] == "acme" and new["scopes"] == ["read"] and new["groups"] == ["hr"]
        secret = new["key"]
        assert secret.startswith("rw_") and new["key_id"].startswith("k_")

        assert client.get("/v1/documents", headers=bearer(secret)).status_code == 200  # the new key works
        assert client.post("/v1/keys", json={"scopes": ["read"]}, headers=bearer(secret)).status_code == 403

        listed = client.get("/v1/keys", headers=bearer(admin))
        assert listed.status_code == 200
        row = next(k for k in listed.json()["keys"] if k["key_id"] == new["key_id"])
        assert row["name"] == "bot" and row["groups"] == ["hr"] and row["revoked_at"] is None
        assert "key" not in row and "key_hash" not in row
        assert secret not in listed.text and hash_key(secret) not in listed.text

        revoked = client.delete(f"/v1/keys/{new['key_id']}", headers=bearer(admin))
        assert revoked.status_code == 200 and revoked.json() == {"revoked": new["key_id"]}
        refused = client.get("/v1/documents", headers=bearer(secret))
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "unauthorized"
        assert client.delete(f"/v1/keys/{new['key_id']}", headers=bearer(admin)).status_code == 404  # once
        again = client.get("/v1/keys", headers=bearer(admin)).json()["keys"]
        assert next(k for k in again if k["key_id"] == new["key_id"])["revoked_at"]
    audit = ws.store.list_audit(limit=1000)  # written by the middleware; flushed when the app stopped
    assert {(a["method"], a["endpoint"]) for a in audit} >= {("POST", "/v1/keys"), ("GET", "/v1/keys")}
    assert secret not in json.dumps(audit, default=str) and hash_key(secret) not in json.dumps(audit, default=str)


@pytest.mark.parametrize("scopes", [["read"], ["read", "write"]])
def test_a_key_without_the_admin_scope_is_refused(ws, scopes):
    key = make(ws, "acme", scopes)
    victim = create_key(ws.store, "acme", ["read"])["id"]
    with TestClient(create_app(workspace=ws)) as client:
        calls = [
            client.post("/v1/keys", json={"scopes": ["admin"]}, headers=bearer(key)),
            client.get("/v1/keys", headers=bearer(key)),
            client.delete(f"/v1/keys/{victim}", headers=bearer(key)),
        ]
        assert client.get("/v1/keys").status_code == 401
    assert [c.status_code for c in calls] == [403, 403, 403]
    assert all(c.json()["error"]["type"] == "forbidden" for c in calls)
    assert len(ws.store.list_api_keys()) == 2 and not any(k["revoked_at"] for k in ws.store.list_api_keys())


def test_an_admin_of_one_tenant_cannot_touch_another_tenants_keys(ws):
    """The attack: acme's admin makes a key for tenant other, lists every key, revokes other's."""
    admin = make(ws, "acme", ["admin"])
    other_admin = make(ws, "other", ["read", "admin"])
    other_id = ws.store.api_key_by_hash(hash_key(other_admin))["key_id"]
    with TestClient(create_app(workspace=ws)) as client:
        made = client.post("/v1/keys", json={"tenant": "other", "scopes": ["admin"]}, headers=bearer(admin))
        assert made.status_code == 403 and "own tenant" in made.json()["error"]["message"]
        assert "rw_" not in made.text
        listed = client.get("/v1/keys", headers=bearer(admin)).json()["keys"]
        assert {k["tenant"] for k in listed} == {"acme"} and other_id not in json.dumps(listed)
        gone = client.delete(f"/v1/keys/{other_id}", headers=bearer(admin))
        unknown = client.delete("/v1/keys/k_000000000000", headers=bearer(admin))
        assert gone.status_code == unknown.status_code == 404  # another tenant's key looks like no key
        assert gone.json()["error"]["type"] == "not_found"
        assert client.get("/v1/documents", headers=bearer(other_admin)).status_code == 200  # still works
        own = client.post("/v1/keys", json={"tenant": "acme", "scopes": ["read"]}, headers=bearer(admin))
        assert own.status_code == 201  # naming its own tenant is fine
    assert [k["tenant"] for k in ws.store.list_api_keys()].count("other") == 1
    assert ws.store.api_key_by_hash(hash_key(other_admin))["revoked_at"] is None


def test_a_rate_limited_admin_cannot_mint_a_less_limited_key(ws):
    admin = make(ws, "acme", ["admin"], rate=50)
    with TestClient(create_app(workspace=ws)) as client:
        default = client.post("/v1/keys", json={"scopes": ["read"]}, headers=bearer(admin))
        lower = client.post("/v1/keys", json={"scopes": ["read"], "rate_per_min": 10}, headers=bearer(admin))
        higher = client.post("/v1/keys", json={"scopes": ["read"], "rate_per_min": 51}, headers=bearer(admin))
    assert default.json()["rate_per_min"] == 50 and lower.json()["rate_per_min"] == 10
    assert higher.status_code == 403 and "own limit of 50" in higher.json()["error"]["message"]
    stored = {k["key_id"]: k["rate_per_min"] for k in ws.store.list_api_keys()}
    assert stored[default.json()["key_id"]] == 50 and len(stored) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": []},
        {"scopes": ["root"]},
        {"scopes": ["read"], "groups": ["hr,finance"]},
        {"scopes": ["read"], "groups": [" "]},
        {"scopes": ["read"], "groups": ["a\nb"]},  # its scope joined by line would read as a and b
        {"scopes": ["read"], "groups": ["a\rb"]},
        {"scopes": ["read"], "groups": ["hr\x00"]},
        {"scopes": ["read"], "groups": ["a\u2028b"]},
        {"scopes": ["read"], "groups": ["hr\u202e"]},  # a bidi override: another name shown in a list
        {"scopes": ["read"], "rate_per_min": 0},
        {"scopes": ["read"], "rate_per_min": "5"},
        {"scopes": ["read"], "key": "rw_chosen_by_me"},
    ],
)
def test_a_bad_body_is_a_422_in_the_error_shape_and_makes_no_key(ws, body):
    admin = make(ws, "acme", ["admin"])
    with TestClient(create_app(workspace=ws)) as client:
        response = client.post("/v1/keys", json=body, headers=bearer(admin))
    assert response.status_code == 422, response.text
    assert ErrorBody.model_validate(response.json()).error.type == "invalid_request"
    assert len(ws.store.list_api_keys()) == 1


def test_the_schema_declares_the_error_shape_the_server_sends(ws):
    key = make(ws, "acme", ["read"])
    with TestClient(create_app(workspace=ws)) as client:
        schema = client.get("/openapi.json").json()
        sent = client.post("/v1/search", json={"query": "x", "k": 0}, headers=bearer(key))
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's 422, which it never sends
    assert set(schema["components"]["schemas"]["ErrorBody"]["properties"]) == {"error"}
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    shared = schema["components"]["responses"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/"):
                for status in ("401", "403", "404", "413", "422", "429"):
                    name = operation["responses"][status]["$ref"].removeprefix("#/components/responses/")
                    assert shared[name]["content"]["application/json"]["schema"] == ref, (method, path, status)
    assert shared["TooManyRequests"]["description"].startswith("rate_limited")
    readyz = schema["paths"]["/readyz"]["get"]["responses"]["503"]  # its own description, the same shape
    assert readyz["description"].startswith("not_ready") and readyz["content"]["application/json"]["schema"] == ref
    assert sent.status_code == 422 and ErrorBody.model_validate(sent.json())
    keys = schema["paths"]["/v1/keys"]
    assert set(keys) == {"get", "post"} and "delete" in schema["paths"]["/v1/keys/{key_id}"]


@pytest.mark.parametrize("group", ["a\nb", "a\tb", "a\u2029b", "x\u200bhr"])
def test_a_group_name_with_a_control_character_is_refused_wherever_groups_are_named(ws, group):
    """Review 13 (LOW): a tenant admin made a key of group "a\nb", which shared cache entries with
    the readers of a and b (CallContext.reader joins groups by line); uploads and the CLI too."""
    admin = make(ws, "acme", ["read", "write", "admin"])
    with TestClient(create_app(workspace=ws)) as client:
        made = client.post("/v1/keys", json={"scopes": ["read"], "groups": [group]}, headers=bearer(admin))
        files = {"file": ("note.md", b"# Note\n\nParking permits are renewed each January.\n", "text/markdown")}
        upload = client.post("/v1/documents", headers=bearer(admin), files=files, data={"groups": group})
    assert made.status_code == 422 and "control or invisible character" in made.json()["error"]["message"]
    assert upload.status_code == 422 and upload.json()["error"]["type"] == "invalid_request", upload.text
    with pytest.raises(ValueError, match="not a group name"):
        create_key(ws.store, "acme", ["read"], [group])
    assert len(ws.store.list_api_keys()) == 1 and not ws.documents()


def test_ordinary_group_names_are_kept_as_given(ws):
    made = create_key(ws.store, "acme", ["read"], [" hr ", "Finance-EU", "équipe 2", "hr"])
    assert made["groups"] == ["Finance-EU", "hr", "équipe 2"]


def test_cache_scopes_join_groups_unambiguously():
    """A key stored before names were checked (or a library Access) may still hold "a\\nb": its
    cache reader and recall scope are not those of a reader of a and b; plain names join as before
    (cache entries and learned scopes already stored keep their keys)."""
    from ragwright.models.types import CallContext
    from ragwright.retrieve.retriever import access_scope
    from ragwright.types import Access

    def scopes(*groups: str) -> tuple[str | None, str]:
        access = Access("acme", groups)
        return CallContext.of_key(None, access).reader, access_scope({"access": access})

    for one, other in [(("a\nb",), ("a", "b")), (("a,b",), ("a", "b")), (("a\\", "b"), ("a\\,b",))]:
        (reader, recall), (reader2, recall2) = scopes(*one), scopes(*other)
        assert reader != reader2 and recall != recall2, (one, other)
    assert scopes("hr", "eng") == ("\neng\nhr", "acme\neng,hr\n")
