"""The guard's policies as the gateway takes them (models/guards.py): the injection detector for
a route's `injection`, and pseudonyms for a model's `privacy = "redact"`. The gateway may not
import the guard (it sits below it), so whoever owns both hands these over: the workspace does,
and a script building its own `Gateway` passes `guards=gateway_guards()`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ..models.guards import Guards
from .injection import InjectionVerdict, default_detector
from .pii import default_detector as default_pii_detector
from .redact import Pseudonymizer, find_secrets


def check_user_message(text: str) -> InjectionVerdict:
    """The shipped detector on a user's message (its weights load on first use)."""
    return default_detector().check(text, "user")


def check_tool_result(text: str) -> InjectionVerdict:
    """A tool's result is read as a retrieved passage is (its own threshold): scored as a user
    message, ordinary prose and JSON would be flagged about half the time."""
    return default_detector().check(text, "retrieved")


class Pseudonyms:
    """One gateway call's placeholders (a models.guards.Redaction)."""

    def __init__(self) -> None:
        self._pseudonyms = Pseudonymizer()

    def redact(self, text: str, entities: Sequence[str]) -> str:
        wanted = set(entities)
        spans = [s for s in default_pii_detector().scan(text) if s.label in wanted]
        if "SECRET" in wanted:
            spans += find_secrets(text)
        return self._pseudonyms.pseudonymize(text, spans) if spans else text

    def restore(self, text: str) -> str:
        return self._pseudonyms.restore(text)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        return self._pseudonyms.restore_stream(pieces)


def gateway_guards() -> Guards:
    """Both policies, loaded lazily: a gateway whose routes and models use neither loads nothing."""
    return Guards(injection=check_user_message, redaction=Pseudonyms, tool_injection=check_tool_result)
