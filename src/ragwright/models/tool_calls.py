"""A turn with tools, checked: every call the model makes names a tool it was offered, and its
arguments are a JSON object that fits the tool's schema. A reply that breaks any of that is
re-asked once, with what was wrong, as structured output is (structured.py); if the second reply
is wrong too, ToolCallError. A caller (an agent loop, an OpenAI client of the server) never sees
a call it would have to check itself.

The re-ask is a second gateway call, with its own attempts, budget reservation, cost and record;
the result returned adds the first call's cost, usage and attempts to its own, and `reasked`
says it happened. A tool result too large for every model of the route is a ToolCallError that
names the result, not an AllModelsFailed about context windows."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import AllModelsFailed, ToolCallError
from ..observe import span
from . import ledger
from .types import CallContext, ChatMessage, ChatRequest, ChatResult, ToolCall, Usage

if TYPE_CHECKING:
    from .gateway import Gateway


def problems(calls: list[ToolCall], request: ChatRequest) -> list[str]:
    """One line per fault of the reply's calls; [] when every call is sound."""
    tools = {t.name: t for t in request.tools}
    out: list[str] = []
    for call in calls:
        tool = tools.get(call.name)
        if tool is None:
            out.append(f"{call.name or '(no name)'}: no such tool (the tools are {', '.join(tools)})")
        else:
            out.extend(f"{call.name}: {e}" for e in tool.errors(call))
    if request.tool_choice == "none" and calls:  # a provider that calls anyway: no call may reach a caller
        out.append("no tool call was allowed (tool_choice none)")
    elif request.tool_choice == "required" and not calls:
        out.append("a tool call was required and the reply made none")
    elif request.tool_choice in tools and not any(c.name == request.tool_choice for c in calls):
        out.append(f"a call of {request.tool_choice} was required and the reply made none")
    if request.parallel_tool_calls is False and len(calls) > 1:  # a provider that ignores the flag
        out.append(f"one tool call at a time was asked for, and the reply made {len(calls)}")
    if len({c.id for c in calls}) < len(calls):
        out.append("two calls share one id")
    return out


def reask(request: ChatRequest, result: ChatResult, found: list[str]) -> ChatRequest:
    """The request again, with the faulty reply written out as text (a call that is not JSON
    cannot be replayed as a call to every provider) and the faults to mend."""
    shown = "\n".join(json.dumps({"tool": c.name, "arguments": c.raw_arguments}) for c in result.tool_calls)
    messages = (
        *request.messages,
        ChatMessage("assistant", "\n".join(p for p in (result.text, shown) if p) or "(no reply)"),
        ChatMessage(
            "user",
            "Those tool calls are not valid: "
            + "; ".join(found)
            + (
                ". Answer in text, without calling a tool."
                if request.tool_choice == "none"
                else ". Call the tools again, by their names, with JSON arguments that follow their schemas."
            ),
        ),
    )
    return replace(request, messages=messages)


def checked_turn(
    gw: Gateway, request: ChatRequest, model: str, context: CallContext, use_cache: bool = True
) -> ChatResult:
    try:
        first = gw.turn(request, model, context, use_cache)
    except AllModelsFailed as exc:
        raise overflow(exc, request) or exc from None
    return settle(gw, request, model, context, first)


def settle(gw: Gateway, request: ChatRequest, model: str, context: CallContext, first: ChatResult) -> ChatResult:
    """`first` if its calls are sound; else the one re-ask's result, or ToolCallError. The re-ask
    neither reads nor fills the cache: it answers a conversation no client wrote."""
    found = problems(first.tool_calls, request)
    if not found:
        return first
    with span("model.tool_reask", route=model, problems=found[:10]):
        try:
            second = gw.turn(reask(request, first, found), model, context, use_cache=False)
        except AllModelsFailed as exc:
            raise overflow(exc, request) or exc from None
    again = problems(second.tool_calls, request)
    if again:
        raise ToolCallError(f"'{model}' made no valid tool call after a re-ask: " + "; ".join(again[:5]), again)
    second.reasked = first.reasked + 1
    second.cost_usd += first.cost_usd
    second.usage = Usage(
        first.usage.input_tokens + second.usage.input_tokens,
        first.usage.output_tokens + second.usage.output_tokens,
        first.usage.estimated or second.usage.estimated,
    )
    second.attempts = [*first.attempts, *second.attempts]
    return second


def overflow(exc: AllModelsFailed, request: ChatRequest) -> ToolCallError | None:
    """A ToolCallError naming the largest tool result, when every model was passed over or failed
    because the conversation did not fit its context window and a tool result is in it."""
    results = [m for m in request.messages if m.role == "tool"]
    attempts = list(exc.attempts)
    too_big = [
        a
        for a in attempts
        if a.kind == "context_length" or (a.status == "skipped" and "context window" in (a.error or ""))
    ]
    if not results or not attempts or len(too_big) < len(attempts):
        return None
    largest = max(results, key=lambda m: len(m.content))
    tokens = ledger.count_tokens(largest.content)
    return ToolCallError(
        f"the result of tool {largest.name or '?'} (call {largest.tool_call_id}, about {tokens} tokens) leaves "
        f"the conversation too large for every model's context window: shorten or page it",
        [f"{largest.name}: result of about {tokens} tokens"],
    )
