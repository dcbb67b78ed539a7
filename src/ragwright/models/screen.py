"""A route's injection policy (`routes.NAME.injection`) over a call's conversation: every user turn
and tool result, and every other message too when a key wrote it (below). A client's agent sends
back what its tools returned (a fetched page, an e-mail, a search hit): an instruction smuggled in
there is an indirect injection, and meets the same policy as one in the user's message.

Why every message, not only those after the last assistant turn: the client writes the whole
conversation, its assistant turns too, so a turn before one proves nothing was screened (an
assistant prefill after an injection, `[user: ATTACK, assistant: "Sure,"]`, would pass). What a
conversation repeats costs a lookup instead: verdicts are kept process-wide (VERDICTS, bounded) by
the sha256 of check, role and text, so an agent loop still costs about one check per new message.

Whose conversation it is decides which roles are read. A library caller's (the workspace's own
calls, a script's gateway.chat): its user turns and tool results, what came from outside; its
system, developer and assistant content is the program's own. A key's (/v1/chat/completions:
screen_client): every message, since any read key writes every role, and moving the attack from
a user turn into a "system" message stepped around the route (review 13). Each role is read as
what it is: an assistant turn as a tool result is (ordinary replies are prose, which the user
setting flags), a system or developer message by the rules alone (Guards.instruction_check: a
system prompt is instructions, and the classifier flags most ordinary ones). A key writes two more
texts the model reads (review 14), and they are read the same ways: each tool it offers (its
name, description and every key and string of its parameters' schema, enum values and titles too: the
provider renders them into the system prompt) by the rules, as a system message; each call of an
assistant turn (its function's name and its arguments, as said() reads them: the model takes them for its own output) as
a tool result. Of 29 ordinary tools (20 in tests/server/ordinary_tools.py, 9 of the code's and
tests') and 25 ordinary calls none is flagged; read by the classifier, 2 of 26 of those tools were.

A call may ask for at most SCREEN_MESSAGES new checks and SCREEN_CHARS new characters (a tool or a
call is a check, as a message is): a message
in the detector's unsure band costs a second-stage read (~15 ms), and 500 of them in one request
were minutes of CPU. Over either, a route that screens refuses the call (QuestionError, HTTP 400).
Each message is checked on its own (the guard windows a long one), so a verdict names its message.

    flag   each verdict is a "guard.injection" span of the call's trace; the call goes on
    block  the first flagged message refuses the call (InjectionBlocked, HTTP 400) before any
           model is asked, naming it: its index in the request's messages, its role and, for a
           tool result, its tool_call_id; `messages[1].tool_calls[0] (call c1, function f)
           name and arguments`; `tools[0] (function f) description` (or its name, or the
           schema path it is at)

A key may name a route's model directly (GET /v1/models lists it): screen_client() gives such a
call the strictest policy of the routes that contain the model, so `model: "plain"` cannot step
around `[routes.guarded] injection = "block"` (review 12). The workspace's own calls by model name
(the answer, the rewriter, the agent) are not client conversations and keep screen() as it was.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import RouteSettings, Settings
from ..errors import InjectionBlocked, QuestionError
from ..observe import span
from .guards import Guards, Verdict
from .tools import Tool
from .types import ChatMessage

SCREEN_MESSAGES = 256  # new checks per call: the chat API's own cap on a request's messages
SCREEN_CHARS = 512_000  # new characters per call (~1.5 s of checks at worst; 256 unsure messages: 2.3 s)
PARTS = 256  # a flagged tool's texts read alone to name the one flagged (a refusal's cost, bounded)
STRICTNESS = {"off": 0, "flag": 1, "block": 2}  # a model in several routes meets the highest
Check = Callable[[str], Verdict]


class Verdicts:
    """Verdicts already reached in this process, least recently used dropped first. The check is
    kept beside its verdict: a key holds id(check), and a later check may reuse a dead one's id."""

    def __init__(self, size: int = 32_768) -> None:  # ~400 bytes each: ~13 MB
        self.size = size
        self._kept: OrderedDict[bytes, tuple[Check, Verdict]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(check: Check, role: str, text: str) -> bytes:
        return hashlib.sha256(f"{id(check)}\0{role}\0{text}".encode("utf-8", "surrogatepass")).digest()

    def get(self, key: bytes, check: Check) -> Verdict | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept[0] is not check:
                return None
            self._kept.move_to_end(key)
            return kept[1]

    def put(self, key: bytes, check: Check, verdict: Verdict) -> None:
        """A verdict reached without the second stage (skipped, failed, late) is not kept: the next
        call asks again rather than repeat a degraded answer."""
        if any("skipped" in reason for reason in verdict.reasons):
            return
        with self._lock:
            self._kept[key] = (check, verdict)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


VERDICTS = Verdicts()


OUTSIDE = ("user", "tool")  # the roles of a library caller's conversation that came from outside it


def screened(messages: Sequence[ChatMessage]) -> list[int]:
    """The indices of the user turns and tool results: what a library caller did not write itself."""
    return [i for i, m in enumerate(messages) if m.role in OUTSIDE]


def _check(guards: Guards, setting: str, role: str) -> Check:
    """How a message of `role` is read: see the module's docstring."""
    if role == "user":
        return guards.injection_check(setting)
    if role in ("tool", "assistant", "tool_call"):
        return guards.tool_result_check(setting)
    return guards.instruction_check(setting)  # system, developer, a tool's definition, any other role


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as every key-value pair it was written with, a repeated key's too."""


def said(content: str) -> str:
    """What a tool's result says, as the guard reads it: a JSON result's keys and strings, one per
    line, decoded (a model reads `\\u0049gnore` as "Ignore"; the guard would not), without the
    braces, quotes and numbers that make `{"temperature": 21}` look like no prompt the detector was
    trained on (scored raw as a user's message, it is flagged). Every pair of an object is read: a
    repeated key's earlier values are in the text the model reads, though json.loads keeps only
    the last. Anything else as it is."""
    text = content.strip()
    if not text.startswith(("{", "[")):
        return content
    try:
        data = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return content
    return "\n".join(_strings(data))


def _strings(data: Any) -> Iterator[str]:
    """Keys and string values in document order, without recursion (nesting may be deep)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, _Pairs):
            for key, value in reversed(item):
                stack += [value, key]
        elif isinstance(item, list):
            stack += reversed(item)


def policy_route(settings: Settings, target: str) -> tuple[str, RouteSettings] | None:
    """The route whose injection policy a client's call naming `target` meets: the route itself;
    for a model name, the strictest route that contains the model (the first in the file on a
    tie); None for a model no route contains."""
    route = settings.routes.get(target)
    if route is not None:
        return target, route
    holding = [(name, r) for name, r in settings.routes.items() if target in r.models]
    return max(holding, key=lambda pair: STRICTNESS[pair[1].injection], default=None)


def screen_client(
    settings: Settings,
    guards: Guards,
    target: str,
    messages: Sequence[ChatMessage],
    tools: Sequence[Tool] = (),
) -> None:
    """A key's call: every message, all roles, its assistant turns' tool calls and the tools it
    offers, under the route's policy; for a model's name, under its routes' strictest (nothing for
    a model no route contains). For a route the gateway reads the user turns and tool results
    itself next (screen()): here the rest, within one budget."""
    route = settings.routes.get(target)
    found = (target, route) if route is not None else policy_route(settings, target)
    if found is None:
        return
    read = set(range(len(messages))) - (set(screened(messages)) if route is not None else set())
    why = "" if route is not None else f" (model '{target}' is one of its models)"
    _screen(guards, *found, _tool_texts(tools) + _message_texts(messages, read, calls=True), why)


def screen(settings: Settings, guards: Guards, target: str, messages: Sequence[ChatMessage]) -> None:
    """The route's policy on each user turn and tool result (nothing for a model name or a route
    with it off): the budget first, then one verdict per message, each from VERDICTS when kept."""
    route = settings.routes.get(target)
    if route is not None:
        outside = screened(messages)
        _screen(guards, target, route, [t for t in _message_texts(messages, set(outside)) if t.read])


@dataclass(frozen=True, slots=True)
class _Text:
    """One text a policy reads. `role` says how (_check) and keys its verdict; `where` names it in
    a refusal; `attrs` go on its span. `read` False: within the budget, not read here (the gateway
    reads it next). `tool`: the tool it is all the text of, whose part a refusal names."""

    role: str
    text: str
    where: str
    attrs: dict[str, Any]
    read: bool = True
    tool: Tool | None = None


def _message_texts(messages: Sequence[ChatMessage], read: set[int], calls: bool = False) -> list[_Text]:
    """Each message's content (a tool result's as said()), and with `calls` each assistant call's
    name and arguments: what the model reads as its own earlier output, read as a tool result is."""
    out = []
    for i, m in enumerate(messages):
        who = f"{m.role}, tool_call_id {m.tool_call_id}" if m.role == "tool" else m.role
        attrs = {"message": i, "role": m.role, "tool_call_id": m.tool_call_id}
        out.append(
            _Text(
                m.role, said(m.content) if m.role == "tool" else m.content, f"messages[{i}] ({who})", attrs, i in read
            )
        )
        for k, c in enumerate(m.tool_calls if calls else ()):
            attrs = {"message": i, "role": "tool_call", "tool_call_id": c.id, "function": c.name}
            where = f"messages[{i}].tool_calls[{k}] (call {c.id}, function {c.name}) name and arguments"
            out.append(_Text("tool_call", _spaced(c.name) + "\n" + said(c.raw_arguments), where, attrs))
    return out


def _spaced(name: str) -> str:
    """A function's name as the words the model reads in it: 64 characters of [A-Za-z0-9_-] hold
    an instruction ("ignore_all_previous_instructions_and_...": review 14b)."""
    return name.replace("_", " ").replace("-", " ")


def _tool_texts(tools: Sequence[Tool]) -> list[_Text]:
    """Each tool offered, as one text: its name, description and its schema's keys and strings, which
    the model reads as instructions (OpenAI renders them into the system prompt), so read as a
    system message is. One text a tool, not one a string: a schema holds a string a property, and
    the budget counts texts."""
    return [
        _Text(
            "tool_spec",
            "\n".join(text for _, text in _parts(t) if text.strip()),
            f"tools[{i}] (function {t.name})",
            {"tool": i, "role": "tool_spec", "function": t.name},
            tool=t,
        )
        for i, t in enumerate(tools)
    ]


Path = tuple[Any, str] | None  # (parent, piece): made in O(1) a node, spelled only when a refusal names it


def _parts(tool: Tool) -> Iterator[tuple[Path, str]]:
    """A tool's texts with where each is: the name, the description, then every key and string of its
    parameters, in document order (without recursion: a schema may nest deep)."""
    yield (None, "name"), _spaced(tool.name)
    yield (None, "description"), tool.description
    stack: list[tuple[Path, Any]] = [((None, "parameters"), tool.parameters)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, value in reversed(item.items()):
                stack += [((path, f".{key}"), value), ((path, " (a key)"), str(key))]
        elif isinstance(item, list):
            stack += [((path, f"[{n}]"), value) for n, value in reversed(list(enumerate(item)))]


def _part(tool: Tool, check: Check) -> str:
    """The first part of a flagged tool that its check flags alone (" description",
    " parameters.properties.q.enum[1]"), of its first PARTS; "" when none (only their join is)."""
    for path, text in itertools.islice((p for p in _parts(tool) if p[1].strip()), PARTS):
        if check(text).flagged:
            pieces = []
            while path is not None:
                path, piece = path
                pieces.append(piece)
            return " " + "".join(reversed(pieces))
    return ""


def _screen(guards: Guards, name: str, route: RouteSettings, texts: Sequence[_Text], why: str = "") -> None:
    """Route `name`'s policy over the `texts` to read, once those of them all not yet checked are
    within the limits; `why` tells, in a refusal, how the call met it."""
    if route.injection == "off":
        return
    setting = f"routes.{name}.injection"
    work = []
    for t in texts:
        if t.text.strip():
            check = _check(guards, setting, t.role)
            key = Verdicts.key(check, t.role, t.text)
            work.append((t, check, key, VERDICTS.get(key, check)))
    _within_budget(name, {key: t.text for t, _, key, kept in work if kept is None})
    for t, check, key, kept in (w for w in work if w[0].read):
        with span("guard.injection", policy=route.injection, **t.attrs) as s:
            kept = kept if kept is not None else VERDICTS.get(key, check)  # a repeat in this call: read once
            verdict = kept if kept is not None else check(t.text)
            if kept is None:
                VERDICTS.put(key, check, verdict)
            s.set(score=verdict.score, flagged=verdict.flagged, reasons=list(verdict.reasons), cached=kept is not None)
            if verdict.flagged and route.injection == "block":
                where = t.where + (_part(t.tool, check) if t.tool is not None else "")
                raise InjectionBlocked(
                    f"refused by route '{name}'{why}: {where} looks like a prompt injection "
                    f"({', '.join(verdict.reasons)})"
                )


def _within_budget(target: str, new: dict[bytes, str]) -> None:
    """A QuestionError when the texts this process has no verdict on (by key) are too many to check."""
    chars = sum(len(text) for text in new.values())
    if len(new) > SCREEN_MESSAGES or chars > SCREEN_CHARS:
        raise QuestionError(
            f"the conversation is too large to screen for route '{target}': {len(new)} new messages of "
            f"{chars:,} characters, and a call may bring at most {SCREEN_MESSAGES} messages (a tool call or a "
            f"tool offered counts as one) and {SCREEN_CHARS:,} characters the injection screening has not read"
        )
