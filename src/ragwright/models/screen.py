"""A route's injection policy (`routes.NAME.injection`) over what a call brings that the model has
not seen: every user turn and tool result after the last assistant turn. A client's agent sends
back what its tools returned (a fetched page, an e-mail, a search hit): an instruction smuggled in
there is an indirect injection, and meets the same policy as one in the user's message.

Why only after the last assistant turn: the turns before it were new on the call that sent them,
and were screened then; checking the whole conversation again on every call would make a long
agent loop cost one check per message per turn. Each message is checked on its own (the guard
windows a long one), so a verdict names the message it is about.

    flag   each verdict is a "guard.injection" span of the call's trace; the call goes on
    block  the first flagged message refuses the call (InjectionBlocked, HTTP 400) before any
           model is asked, naming it: its index in the request's messages, its role and, for a
           tool result, its tool_call_id
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..config import Settings
from ..errors import InjectionBlocked
from ..observe import span
from .guards import Guards
from .types import ChatMessage


def unseen(messages: Sequence[ChatMessage]) -> list[int]:
    """The indices of the user turns and tool results after the last assistant turn."""
    last = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    return [i for i in range(last + 1, len(messages)) if messages[i].role in ("user", "tool")]


def said(content: str) -> str:
    """What a tool's result says, as the guard reads it: a JSON result's keys and strings, one per
    line, decoded (a model reads `\\u0049gnore` as "Ignore"; the guard would not), without the
    braces, quotes and numbers that make `{"temperature": 21}` look like no prompt the detector was
    trained on (scored raw as a user's message, it is flagged). Anything else as it is."""
    text = content.strip()
    if not text.startswith(("{", "[")):
        return content
    try:
        data = json.loads(text)
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
        elif isinstance(item, dict):
            for key, value in reversed(list(item.items())):
                stack += [value, key]
        elif isinstance(item, list):
            stack += reversed(item)


def screen(settings: Settings, guards: Guards, target: str, messages: Sequence[ChatMessage]) -> None:
    """The route's policy on each unseen message (nothing for a model name or a route with it off)."""
    route = settings.routes.get(target)
    if route is None or route.injection == "off":
        return
    setting = f"routes.{target}.injection"
    for i in unseen(messages):
        m = messages[i]
        text = said(m.content) if m.role == "tool" else m.content
        if not text.strip():
            continue
        check = guards.tool_result_check(setting) if m.role == "tool" else guards.injection_check(setting)
        with span("guard.injection", policy=route.injection, message=i, role=m.role, tool_call_id=m.tool_call_id) as s:
            verdict = check(text)
            s.set(score=verdict.score, flagged=verdict.flagged, reasons=list(verdict.reasons))
            if verdict.flagged and route.injection == "block":
                who = f"{m.role}, tool_call_id {m.tool_call_id}" if m.role == "tool" else m.role
                raise InjectionBlocked(
                    f"refused by route '{target}': messages[{i}] ({who}) looks like a prompt injection "
                    f"({', '.join(verdict.reasons)})"
                )
