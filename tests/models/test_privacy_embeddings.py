"""`[embedding] privacy`: a remote embedding endpoint is not sent the personal data a redacting
chat model is kept from, neither in questions nor in documents (the review's attack: the
question's e-mail reached /embeddings while the answer model saw a placeholder)."""

from __future__ import annotations

import pytest

from ragwright import Workspace
from ragwright.config import ModelSettings, Settings, load_settings
from ragwright.errors import ConfigError
from ragwright.guard.policy import Pseudonyms, gateway_guards
from ragwright.ingest import TextRecord
from ragwright.models import ChatMessage, Gateway
from ragwright.models.embedding import LocalMiniLM, OpenAIEmbedder
from ragwright.models.private_embedding import (
    RedactingEmbedder,
    embedding_entities,
    embedding_privacy,
    private_embedder,
)
from ragwright.store import SqliteStore
from tests.provider_server import ProviderServer

EMAIL, OTHER = "jane.doe@example.com", "maria.keller@example.org"


@pytest.fixture(autouse=True, scope="module")
def _detector_loaded():
    """The detector loads in seconds on a busy machine: not inside a call's deadline."""
    Pseudonyms().redact(EMAIL, ["EMAIL_ADDRESS", "PERSON"])


def _config(tmp_path, srv: ProviderServer, embedding_privacy: str | None) -> Settings:
    line = f'privacy = "{embedding_privacy}"\n' if embedding_privacy else ""
    cfg = tmp_path / "ragwright.toml"
    cfg.write_text(
        f'[embedding]\nprovider = "openai"\nbase_url = "{srv.base_url}/v1"\nmodel = "e"\n{line}\n'
        f'[answer]\nmodel = "ext"\n\n'
        f'[models.ext]\nbase_url = "{srv.base_url}/v1"\nmodel = "m"\nprivacy = "redact"\ntimeout_s = 30\n'
    )
    return load_settings(cfg, tmp_path / "data")


def _ask(tmp_path, embedding_privacy: str | None) -> list[str]:
    """What reached /embeddings for one document and one ask, both with personal data."""
    with ProviderServer(reply=lambda body: "I don't know.") as srv:
        ws = Workspace(settings=_config(tmp_path, srv, embedding_privacy))
        ws.ingest_records([TextRecord(id="a", text=f"Refunds are paid within 14 days; write to {OTHER}.")])
        ws.ask(f"When will {EMAIL} get the refund?")
        ws.close()
        chat = [r.raw.decode() for r in srv.requests if r.path.endswith("/chat/completions")]
        assert not any(EMAIL in t or OTHER in t for t in chat)
        return [r.raw.decode() for r in srv.requests if r.path.endswith("/embeddings")]


def test_a_remote_embedder_gets_no_personal_data_when_a_model_redacts(tmp_path):
    """The default ("auto"): a redacting chat model makes the embedding endpoint redacted too."""
    sent = _ask(tmp_path, None)
    assert sent and not [t for t in sent if EMAIL in t or OTHER in t]
    assert any("<EMAIL_ADDRESS_1>" in t for t in sent)  # the question still has its shape


def test_privacy_none_on_the_embedding_endpoint_sends_the_texts_as_they_are(tmp_path):
    """The control (and the operator's choice for an endpoint it trusts): the check above would see them."""
    sent = _ask(tmp_path, "none")
    assert any(EMAIL in t for t in sent) and any(OTHER in t for t in sent)


def test_privacy_is_resolved_from_the_provider_and_the_models(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert embedding_privacy(settings) == "none"  # local: nothing leaves the machine
    settings.embedding.provider, settings.embedding.base_url = "openai", "http://127.0.0.1:9/v1"
    assert embedding_privacy(settings) == "none"  # auto, and no model redacts
    settings.embedding.privacy = "redact"
    assert embedding_privacy(settings) == "redact"
    settings.embedding.privacy = "auto"
    settings.models = {"m": ModelSettings(base_url="http://127.0.0.1:9/v1", model="m", privacy="redact")}
    assert embedding_privacy(settings) == "redact"
    local = LocalMiniLM()
    settings.embedding.provider = "local"
    assert private_embedder(local, settings, Pseudonyms) is local  # never wrapped


def test_each_text_is_redacted_alone_so_its_vector_does_not_depend_on_its_batch():
    with ProviderServer() as srv:
        inner = OpenAIEmbedder(srv.base_url + "/v1", "e")
        embedder = RedactingEmbedder(inner, Pseudonyms, ["EMAIL_ADDRESS"])
        alone = embedder.embed([f"mail {EMAIL}"])
        batched = embedder.embed([f"mail {OTHER}", f"mail {EMAIL}"])
        assert (alone[0] == batched[1]).all() and embedder.dim == inner.dim == alone.shape[1]
        inputs = [r.body["input"] for r in srv.requests]
        assert inputs == [["mail <EMAIL_ADDRESS_1>"], ["mail <EMAIL_ADDRESS_1>", "mail <EMAIL_ADDRESS_1>"]]


def test_a_gateways_semantic_cache_embeds_prompts_redacted_or_refuses(tmp_path):
    """A gateway built by hand makes its own embedder for the semantic cache: redacted with the
    guards it was given, refused without them (never in clear)."""
    with ProviderServer(reply=lambda body: "Paid in 14 days.") as srv:
        settings = _config(tmp_path, srv, None)
        settings.gateway.semantic_cache = True
        store = SqliteStore(tmp_path / "s.db")
        gw = Gateway(settings, store, guards=gateway_guards())
        gw.chat([ChatMessage("user", f"When will {EMAIL} get the refund?")], model="ext")
        gw.close()
        embedded = [r.raw.decode() for r in srv.requests if r.path.endswith("/embeddings")]
        assert embedded and not any(EMAIL in t for t in embedded)
        settings.models["ext"].privacy = "none"
        settings.embedding.privacy = "redact"
        with pytest.raises(ConfigError, match=r"\[embedding\] privacy"):
            Gateway(settings, store)


def test_an_embedder_handed_to_a_gateway_is_redacted_as_the_settings_say(tmp_path):
    """A script's own OpenAIEmbedder for the semantic cache is wrapped like the one the gateway makes."""
    with ProviderServer(reply=lambda body: "Paid in 14 days.") as srv:
        settings = _config(tmp_path, srv, None)
        settings.gateway.semantic_cache = True
        own = OpenAIEmbedder(srv.base_url + "/v1", "e")
        gw = Gateway(settings, SqliteStore(tmp_path / "s.db"), embedder=own, guards=gateway_guards())
        gw.chat([ChatMessage("user", f"When will {EMAIL} get the refund?")], model="ext")
        gw.close()
        embedded = [r.raw.decode() for r in srv.requests if r.path.endswith("/embeddings")]
        assert embedded and not any(EMAIL in t for t in embedded)


def test_auto_also_hides_what_the_redacting_models_hide(tmp_path):
    settings = Settings(data_dir=tmp_path)
    settings.embedding.provider, settings.embedding.base_url = "openai", "http://127.0.0.1:9/v1"
    settings.models = {
        "m": ModelSettings(base_url="http://127.0.0.1:9/v1", model="m", privacy="redact", privacy_entities=["LOCATION"])
    }
    assert {"LOCATION", "EMAIL_ADDRESS"} <= set(embedding_entities(settings))
    settings.embedding.privacy = "redact"  # said outright: its own list
    assert "LOCATION" not in embedding_entities(settings)
