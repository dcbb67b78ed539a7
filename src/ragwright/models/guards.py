"""What the gateway needs from the guard layer, and gets handed by whoever owns both (the
workspace: `Workspace.gateway`; a script: `ragwright.guard.policy.gateway_guards()`).

The gateway sits below the guard in the package's layers (a test keeps `models` from importing
`guard`), yet two settings need it: a route's `injection` screens the user's message, and a
model's `privacy = "redact"` pseudonymises what it is sent. A gateway built without the guard a
setting needs refuses that setting with a ConfigError, rather than send the message unscreened or
the personal data in clear."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..config import Settings
from ..errors import ConfigError


class Verdict(Protocol):
    """The injection detector's answer on one message."""

    @property
    def score(self) -> float: ...

    @property
    def flagged(self) -> bool: ...

    @property
    def reasons(self) -> Sequence[str]: ...


class Redaction(Protocol):
    """One call's pseudonyms: the same value gets the same placeholder in every message and on
    every attempt, and the model's echo of a placeholder turns back into the value."""

    def redact(self, text: str, entities: Sequence[str]) -> str:
        """`text` with the values of these labels (Presidio's, and SECRET) replaced by placeholders."""
        ...

    def restore(self, text: str) -> str:
        """`text` with every placeholder this object issued replaced by its value."""
        ...

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        """restore() over streamed text: a piece that may end inside a placeholder is held back
        until the placeholder is complete, so no piece shows half of one."""
        ...


@dataclass(frozen=True, slots=True)
class Guards:
    """`injection`: scores a user's message (the detector loads on first use). `redaction`: makes
    one Redaction per call. `tool_injection`: scores a tool's result as retrieved text (its own
    threshold, sentence by sentence); without it a result is scored as a user's message, which
    flags far more ordinary prose (53% of 300 SciFact abstracts against 0%, and costs 270 ms
    against 9 ms each: the second stage reads most of their sentences). `instruction_injection`:
    scores a system or developer message a key wrote (models/screen.py), by rules alone: the
    classifier takes ordinary system prompts for injections."""

    injection: Callable[[str], Verdict] | None = None
    redaction: Callable[[], Redaction] | None = None
    tool_injection: Callable[[str], Verdict] | None = None
    instruction_injection: Callable[[str], Verdict] | None = None

    def check(self, settings: Settings) -> None:
        """A ConfigError naming the first setting that needs a guard this gateway was not given."""
        for name, route in settings.routes.items():
            if route.injection != "off" and self.injection is None:
                raise ConfigError(_missing(f'routes.{name}.injection = "{route.injection}"', "injection detector"))
        for name, model in settings.models.items():
            if model.privacy == "redact" and self.redaction is None:
                raise ConfigError(_missing(f'models.{name}.privacy = "redact"', "redaction"))

    def injection_check(self, setting: str) -> Callable[[str], Verdict]:
        """The injection check that `setting` asks for, or a ConfigError when there is none."""
        if self.injection is None:
            raise ConfigError(_missing(setting, "injection detector"))
        return self.injection

    def tool_result_check(self, setting: str) -> Callable[[str], Verdict]:
        """The check of a tool's result: `tool_injection`, else the user-message check."""
        return self.tool_injection or self.injection_check(setting)

    def instruction_check(self, setting: str) -> Callable[[str], Verdict]:
        """The check of a system or developer message: `instruction_injection`, else the tool
        result's (a Guards built without it flags far more system prompts: see guard/policy.py)."""
        return self.instruction_injection or self.tool_result_check(setting)

    def new_redaction(self, setting: str) -> Redaction:
        """A fresh Redaction for one call that `setting` asks for, or a ConfigError when there is none."""
        if self.redaction is None:
            raise ConfigError(_missing(setting, "redaction"))
        return self.redaction()


def _missing(setting: str, what: str) -> str:
    return (
        f"{setting} needs the guard's {what}, and this gateway was built without it: use Workspace.gateway, "
        "or pass guards=ragwright.guard.policy.gateway_guards() to Gateway(...)"
    )
