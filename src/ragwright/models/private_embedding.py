"""`[embedding] privacy`: a remote embedding endpoint is sent what a `privacy = "redact"` chat
model would be, every text with its personal data replaced by placeholders, documents at
ingestion and questions at search alike. Without it, a question whose e-mail address the answer
model never saw went in clear to `/embeddings` (in 43 calls of one ask, in the review that found
it).

Each text gets a Redaction of its own, so its placeholders are numbered from 1 whatever it is
batched with: the same chunk always sends the same text, hence the same vector. Nothing is
restored (a vector has no text to restore). The vector space stays the model's (`name` is the
endpoint's): a question redacted is compared with documents embedded before privacy was turned on
as well as with those after. The local embedder sends nothing anywhere and is never wrapped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .guards import Redaction

if TYPE_CHECKING:
    import numpy as np

    from ..config import Settings
    from .embedding import Embedder


def embedding_privacy(settings: Settings) -> str:
    """'redact' or 'none': what [embedding] privacy comes to. A local embedder is 'none' (nothing
    leaves the machine); 'auto' follows the chat models: 'redact' once one of them redacts, since
    the operator has said then that personal data should not reach a provider."""
    e = settings.embedding
    if e.provider == "local":
        return "none"
    if e.privacy == "auto":
        return "redact" if any(m.privacy == "redact" for m in settings.models.values()) else "none"
    return e.privacy


class RedactingEmbedder:
    """An Embedder whose texts are redacted before the wrapped one sees them."""

    def __init__(self, inner: Embedder, redaction: Callable[[], Redaction], entities: Sequence[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self._redaction = redaction
        self._entities = tuple(entities)

    @property
    def dim(self) -> int:
        """The wrapped embedder's, which an endpoint's learns from its first answer."""
        return self.inner.dim

    @dim.setter
    def dim(self, value: int) -> None:
        self.inner.dim = value

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed([self._redaction().redact(t, self._entities) for t in texts])


def private_embedder(embedder: Embedder, settings: Settings, redaction: Callable[[], Redaction] | None) -> Embedder:
    """`embedder` as `settings` want it sent texts; a ConfigError, rather than texts in clear, when
    they ask for redaction and no `redaction` (the guard's, models/guards.py) was handed in."""
    if embedding_privacy(settings) != "redact" or isinstance(embedder, RedactingEmbedder):
        return embedder
    if redaction is None:
        raise ConfigError(
            "[embedding] privacy redacts what is sent to the embedding endpoint and needs the guard's "
            "redaction: build the embedder with ragwright.guard.policy.gateway_guards().redaction"
        )
    return RedactingEmbedder(embedder, redaction, embedding_entities(settings))


def embedding_entities(settings: Settings) -> list[str]:
    """What the endpoint is kept from: [embedding] privacy_entities, and under "auto" whatever the
    redacting models hide besides (an operator who added a label to a model meant it for questions)."""
    e = settings.embedding
    extra = [x for m in settings.models.values() if m.privacy == "redact" for x in m.privacy_entities]
    return sorted({*e.privacy_entities, *(extra if e.privacy == "auto" else [])})
