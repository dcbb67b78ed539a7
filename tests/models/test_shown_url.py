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


def test_a_refusal_reason_is_shown_only_when_every_word_is_plain():
    url = "http://svc:pw-Secret1@llm.internal.corp:8443/v1?api-key=abc123"

    def shown(message: str) -> str:
        return _public_reason(json.dumps({"error": {"message": message}}), url)

    for plain in (
        "messages.0.content: field required",
        "max_tokens must be at most 4096",
        "Extra inputs are not permitted",
        "The model `gpt-4o-mini` does not exist or you do not have access to it.",
    ):
        assert shown(plain) == ": " + plain
    for leaky in (  # review 16b's g_reason_mask.py, and the configured host by name
        "model 'x' unknown on LLM.internal.corp",
        "upstream fd00:10:20::7 refused the model",
        "upstream [2001:db8::5]:8443 refused",
        "routed to vllm-3.corp.internal:8001, model unknown",
        "redirect to http%3A%2F%2F10.1.2.3%3A8000 failed",
        "bad header Authorization: Basic dXNlcjpzM2NyZXQ=",
        "bad header x-api-key: 9f86d081884c7d65",
        "key ab+cdEFgh/ijkLMnop+qrsTUvwx/yz0123456789ABCD== invalid",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW5hbnQtYiJ9.c2lnbmF0dXJlLXNpZw rejected",
        "upstream host llm-gw.corp.internal.:8000",
        "upstream LLM-GW.CORP.INTERNAL",
        "ip 0x0a010203 / 167838211 refused",
        "model 'tenant-b/private-finetune' not found",
        "with key sk-proj-Z9y8X7w6V5u4",
    ):
        assert shown(leaky) == "", leaky
    assert _public_reason("<h1>llm.internal.corp</h1>", url) == ""
