"""What the operator's log may name of a provider's URL: never a credential written into it, as
user:password@ (review 15) or as a query's value (?api-key=, as Azure-style endpoints take it)."""

import json

from ragwright.models.providers.base import _public_reason, scrubbed, shown_url

URL = "https://svc:pw-Secret1@api.example.com:8443/v1/chat/completions?api-key=sk-Secret2&api-version=2024-06-01"


def test_the_url_shown_has_no_credential_and_keeps_where_it_points():
    shown = shown_url(URL)
    assert "pw-Secret1" not in shown and "sk-Secret2" not in shown and "svc" not in shown
    assert shown == "https://***@api.example.com:8443/v1/chat/completions?api-key=***&api-version=***"
    assert shown_url("http://127.0.0.1:9/v1") == "http://127.0.0.1:9/v1"


def test_a_providers_text_quoting_the_credentials_is_scrubbed():
    text = scrubbed(f"POST {URL} failed: invalid api-key sk-Secret2 for user svc", URL)
    assert "pw-Secret1" not in text and "sk-Secret2" not in text


def test_a_refusal_reason_masks_the_configured_host_by_name():
    url = "http://svc:pw-Secret1@llm.internal.corp:8443/v1?api-key=abc123"
    body = json.dumps({"error": {"message": "model 'x' unknown on LLM.internal.corp:8443 (key abc123, pw-Secret1)"}})
    assert _public_reason(body, url) == ": model 'x' unknown on ***:8443 (key ***, ***)"
    assert _public_reason("<h1>llm.internal.corp</h1>", url) == ""
