"""The guard's policies as the gateway takes them (models/guards.py): the injection detector for
a route's `injection`, and pseudonyms for a model's `privacy = "redact"`. The gateway may not
import the guard (it sits below it), so whoever owns both hands these over: the workspace does,
and a script building its own `Gateway` passes `guards=gateway_guards()`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from ..models.guards import Guards
from .injection import RULE_SCORE, InjectionVerdict, default_detector, fired_rules, normalise
from .pii import default_detector as default_pii_detector
from .redact import Pseudonymizer, find_secrets
from .unicode_fold import folded


def check_user_message(text: str) -> InjectionVerdict:
    """The shipped detector on a user's message (its weights load on first use)."""
    return default_detector().check(text, "user")


def check_tool_result(text: str) -> InjectionVerdict:
    """A tool's result is read as a retrieved passage is (its own threshold): scored as a user
    message, ordinary prose and JSON would be flagged about half the time."""
    return default_detector().check(text, "retrieved")


# The rules that read a system or developer message: an order to drop the instructions given, a
# chat template's own tokens (a fake turn), a heavy Unicode disguise. Not the others: a system
# prompt sets a role ("Act as a travel agent": role_switch), guards its prompt ("never reveal the
# system prompt": prompt_leak), narrows the context, and gives few-shot "Human: ... Assistant:"
# examples, all of which those rules (rightly, in a user's message) take for an attack.
INSTRUCTION_RULES = ("override_instructions", "override_instructions_de", "override_instructions_intl")
_TEMPLATE_TOKENS = re.compile(
    r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>|\[/?inst\]|<</?sys>>"
)


def check_instructions(text: str) -> InjectionVerdict:
    """A system or developer message a key wrote, by the rules alone: such a message is
    instructions, and the classifier takes any instructions for an injection (of 40 ordinary
    system prompts it flagged 28 as a user message and 12 as retrieved text, "You are a helpful
    assistant. Answer concisely." among them). The text is also read with its disguise taken off
    (unicode_fold), as the cascade reads it."""
    plain, disguise = folded(text)
    rules = {r for t in {text, plain} for r in fired_rules(t) if r in INSTRUCTION_RULES}
    if _TEMPLATE_TOKENS.search(normalise(plain)):
        rules.add("template_markers")
    if disguise.heavy:
        rules.add("unicode_obfuscation")
    reasons = sorted(rules)
    return InjectionVerdict(RULE_SCORE if reasons else 0.0, bool(reasons), reasons)


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
    return Guards(
        injection=check_user_message,
        redaction=Pseudonyms,
        tool_injection=check_tool_result,
        instruction_injection=check_instructions,
    )
