"""The agent loop: the model searches the documents as often as it needs (a rewritten query, or
one query per part of a compound question), then answers from what it read. Retrieval is a tool
like any other (`search_documents`), run with the caller's permissions whatever filters the
model asks for; the final answer's citations are held to the passages exactly as a generated
answer's are (grounded.py). The loop is bounded by `max_steps` model turns and by the gateway's
budget and deadline; every turn is a span in the trace. A loop that hits its limit, or a model
that fails, ends with the extractive answer over what was found and a status that says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from ..errors import ModelError, RagwrightError
from ..models.chat import ChatMessage
from ..models.gateway import Gateway
from ..models.tools import Tool, tool_result
from ..models.types import CallContext, ChatResult, ToolCall
from ..observe import span
from ..types import Answer, SearchResult
from .grounded import check_citations

ANSWERED, STEP_LIMIT, DEADLINE = "answered", "step_limit", "deadline"
MODEL_FAILED, NO_ANSWER = "model_failed", "no_answer"
PASSAGE_CHARS = 1200  # of one passage in a tool result: enough for its sentences, a bounded context

SYSTEM_PROMPT = (
    "You answer questions about a collection of documents. Call search_documents to find passages; "
    "search again with other words, or once per part of a question with several parts, when what you "
    "found does not answer it. Then answer using only the passages, citing after every sentence the "
    "passage numbers that support it, as [1] or [2][3]. If the passages do not contain the answer, "
    "reply exactly: I don't know."
)


class SearchDocuments(BaseModel):
    """Search the documents. Returns numbered passages; cite them by their numbers."""

    query: str = Field(min_length=1, max_length=1000, description="what to look for, in words the documents use")
    k: int = Field(5, ge=1, le=10, description="how many passages")
    filters: dict[str, str | list[str]] | None = Field(
        None, description="metadata filters, field -> value or list of values (e.g. {'format': 'pdf'})"
    )


SEARCH_TOOL = Tool.from_model(SearchDocuments, name="search_documents")

Search = Callable[[str, int, dict[str, Any] | None], list[SearchResult]]
Fallback = Callable[[str, list[SearchResult]], Answer]


@dataclass(slots=True)
class Step:
    """One model turn: the searches it asked for (query, passages found) or the answer it gave."""

    n: int
    searches: list[dict[str, Any]] = field(default_factory=list)
    answered: bool = False
    latency_ms: float = 0.0


@dataclass(slots=True)
class AgentRun:
    answer: Answer
    status: str
    steps: list[Step]
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 0, "output_tokens": 0})


class Agent:
    """`search(query, k, filters)` runs with the caller's permissions (the caller's filters,
    access among them, always win over the model's); `fallback(question, passages)` is the
    extractive answer used when the loop ends without a supported answer."""

    def __init__(
        self,
        gateway: Gateway,
        route: str,
        search: Search,
        fallback: Fallback,
        *,
        max_steps: int = 4,
        max_tokens: int = 400,
        context: CallContext = CallContext(),
    ) -> None:
        self.gateway, self.route, self.search, self.fallback = gateway, route, search, fallback
        self.max_steps, self.max_tokens, self.context = max(1, max_steps), max_tokens, context
        # a deadline set on the route (or the gateway) bounds the whole loop, not each turn only; one
        # derived from the models' timeouts is per call, and the step limit bounds the loop
        rule = gateway.resolve(route).deadline
        self.deadline = (rule.seconds, rule.setting) if rule.setting is not None else None

    def run(self, question: str, history: Sequence[ChatMessage] = ()) -> AgentRun:
        messages = [ChatMessage("system", SYSTEM_PROMPT), *history, ChatMessage("user", question)]
        passages: list[SearchResult] = []
        steps: list[Step] = []
        usage = {"input_tokens": 0, "output_tokens": 0}
        started = time.monotonic()
        for n in range(1, self.max_steps + 1):
            if self.deadline is not None and time.monotonic() - started >= self.deadline[0]:
                why = f"the agent reached its deadline of {self.deadline[0]:g} s ({self.deadline[1]})"
                return self._fallback(question, passages, steps, usage, DEADLINE, why)
            step = Step(n)
            steps.append(step)
            with span("agent.step", step=n) as s:
                try:
                    result = self._turn(messages, passages, first=n == 1)
                except ModelError as exc:
                    s.set(error=str(exc)[:300])
                    return self._fallback(question, passages, steps, usage, MODEL_FAILED, str(exc))
                usage["input_tokens"] += result.usage.input_tokens
                usage["output_tokens"] += result.usage.output_tokens
                step.latency_ms = result.latency_ms
                if not result.tool_calls:
                    step.answered = True
                    s.set(answered=True)
                    return self._finish(question, result.text, passages, steps, usage)
                messages.append(result.message)
                for call in result.tool_calls:
                    messages.append(self._run_tool(call, passages, step))
                s.set(searches=step.searches)
        return self._fallback(
            question, passages, steps, usage, STEP_LIMIT, f"the agent reached its limit of {self.max_steps} steps"
        )

    def _turn(self, messages: list[ChatMessage], passages: list[SearchResult], first: bool) -> ChatResult:
        """The first turn must search (named tool choice, which every provider here honours, the
        local model's grammar included): an answer is never written from nothing read."""
        sources = tuple(dict.fromkeys(p.doc_id for p in passages))
        context = CallContext(self.context.key_id, self.context.tenant, sources)
        return self.gateway.chat(
            messages,
            model=self.route,
            max_tokens=self.max_tokens,
            context=context,
            tools=[SEARCH_TOOL],
            tool_choice=SEARCH_TOOL.name if first else "auto",
        )

    def _run_tool(self, call: ToolCall, passages: list[SearchResult], step: Step) -> ChatMessage:
        """The tool's result as the next message; a failing search is told to the model (it may
        try again), never raised: the loop's bound ends a model that keeps failing."""
        if call.name != SEARCH_TOOL.name:  # the gateway validated the name; belt and braces
            return tool_result(call, f"unknown tool {call.name!r}", error=True)
        args = SEARCH_TOOL.parse(call)
        assert isinstance(args, SearchDocuments)
        try:
            found = self.search(args.query, args.k, _model_filters(args.filters))
        except (RagwrightError, ValueError) as exc:
            step.searches.append({"query": args.query, "error": str(exc)[:300]})
            return tool_result(call, f"search failed: {exc}", error=True)
        numbers = [_number(passages, r) for r in found]
        step.searches.append({"query": args.query, "chunks": [r.chunk_id for r in found]})
        if not found:
            return tool_result(call, "no passages matched")
        shown = zip(numbers, found, strict=True)
        body = "\n\n".join(f"[{n}] ({r.location})\n{r.text[:PASSAGE_CHARS]}" for n, r in shown)
        return tool_result(call, body)

    def _finish(
        self, question: str, text: str, passages: list[SearchResult], steps: list[Step], usage: dict[str, int]
    ) -> AgentRun:
        text = text.strip()
        if not text or text.lower().strip(" .").startswith(("i don't know", "i do not know")):
            return self._fallback(question, passages, steps, usage, NO_ANSWER, "the model found no answer")
        with span("citation_check") as s:
            checked = check_citations(question, text, passages)
            s.set(dropped=len(checked.dropped_sentences) if checked else "all")
        if checked is None:
            reason = "no sentence the model wrote was supported by a passage it found"
            return self._fallback(question, passages, steps, usage, NO_ANSWER, reason)
        checked.mode = "agent"
        return AgentRun(checked, ANSWERED, steps, usage)

    def _fallback(
        self,
        question: str,
        passages: list[SearchResult],
        steps: list[Step],
        usage: dict[str, int],
        status: str,
        why: str,
    ) -> AgentRun:
        """The extractive answer over what the searches found (or a plain search, if none ran),
        with a note that says why the model's own answer is not the one given."""
        with span("fallback", reason=why[:300], status=status):
            answer = self.fallback(question, passages)
        if not answer.abstained:
            answer.answer = f"{answer.answer}\n\n(Extractive answer: {why}.)"
        answer.fallback = why
        return AgentRun(answer, status, steps, usage)


def _number(passages: list[SearchResult], result: SearchResult) -> int:
    """A passage's number for the whole conversation: found again, it keeps its first number."""
    for i, p in enumerate(passages, start=1):
        if p.chunk_id == result.chunk_id:
            return i
    passages.append(result)
    return len(passages)


def _model_filters(filters: dict[str, str | list[str]] | None) -> dict[str, Any] | None:
    """The model's filters as the store takes them; it never names who may read (access, tenant):
    the caller's filters are laid over these, so they narrow what the caller sees, never widen it."""
    if not filters:
        return None
    kept = {key: value for key, value in filters.items() if key not in ("access", "tenant")}
    out = {key: value if isinstance(value, list) else [value] for key, value in kept.items()}
    return out or None


def steps_json(steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The steps as the trace, the JSON output and the HTTP response show them."""
    return [{"n": s.n, "searches": s.searches, "answered": s.answered, "latency_ms": s.latency_ms} for s in steps]
