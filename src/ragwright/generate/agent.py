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
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel, Field

from ..errors import InjectionBlocked, ModelError, RagwrightError
from ..models.chat import ChatMessage
from ..models.gateway import Gateway
from ..models.metering import metered
from ..models.tools import Tool, tool_result
from ..models.types import CallContext, ChatResult, ToolCall
from ..observe import span
from ..types import Answer, SearchResult
from .followup import Turn, read_turns
from .grounded import check_citations, found_nothing, read_versions, shown_location
from .screening import Screening, screen

ANSWERED, STEP_LIMIT, DEADLINE = "answered", "step_limit", "deadline"
MODEL_FAILED, NO_ANSWER = "model_failed", "no_answer"
PASSAGE_CHARS = 1200  # of one passage in a tool result: enough for its sentences, a bounded context
SEARCHES_PER_TURN = 3  # more calls in one turn are answered "not run": one request, bounded work

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
        injection: str = "off",
    ) -> None:
        self.gateway, self.route, self.search, self.fallback = gateway, route, search, fallback
        self.max_steps, self.max_tokens, self.context = max(1, max_steps), max_tokens, context
        self.injection = injection  # [answer] injection, applied to the question and every search's passages
        # a deadline set on the route (or the gateway) bounds the whole loop, not each turn only; one
        # derived from the models' timeouts is per call, and the step limit bounds the loop
        rule = gateway.resolve(route).deadline
        self.deadline = (rule.seconds, rule.setting) if rule.setting is not None else None

    def run(self, question: str, history: Sequence[ChatMessage] = ()) -> AgentRun:
        """The loop; usage is read from the gateway's call records (a failed turn's billed calls
        and re-asks included). A flagged question or passage under `injection = "block"` raises
        InjectionBlocked, as a plain ask does."""
        guard = Guarded(question, self.injection)
        guard.check([])  # the question itself, before any model sees it
        history = guard.conversation(history)  # and the turns before it that the model reads
        with metered(self.gateway) as calls:
            run = self._loop(question, history, guard)
        run.usage = {
            "input_tokens": sum(u.input_tokens for u in calls),
            "output_tokens": sum(u.output_tokens for u in calls),
        }
        if guard.report:
            guard.merge(run.answer.guard)  # a fallback's own screening, if one ran
            note, had_note = guard.note, bool(run.answer.guard.get("dropped"))
            run.answer.guard = guard.report
            if note and not had_note:
                run.answer.answer = f"{run.answer.answer}\n\n{note}"
        return run

    def _loop(self, question: str, history: Sequence[ChatMessage], guard: Guarded) -> AgentRun:
        messages = [ChatMessage("system", SYSTEM_PROMPT), *history, ChatMessage("user", question)]
        passages: list[SearchResult] = []
        steps: list[Step] = []
        started = time.monotonic()
        for n in range(1, self.max_steps + 1):
            if self.deadline is not None and time.monotonic() - started >= self.deadline[0]:
                why = f"the agent reached its deadline of {self.deadline[0]:g} s ({self.deadline[1]})"
                return self._fallback(question, passages, steps, DEADLINE, why)
            step = Step(n)
            steps.append(step)
            with span("agent.step", step=n) as s:
                try:
                    result = self._turn(messages, passages, first=n == 1)
                except ModelError as exc:
                    s.set(error=str(exc)[:300])
                    return self._fallback(question, passages, steps, MODEL_FAILED, str(exc))
                step.latency_ms = result.latency_ms
                if not result.tool_calls:
                    step.answered = True
                    s.set(answered=True)
                    return self._finish(question, result.text, passages, steps)
                messages.append(result.message)
                for i, call in enumerate(result.tool_calls):
                    if i >= SEARCHES_PER_TURN:
                        note = f"not run: at most {SEARCHES_PER_TURN} searches a turn"
                        messages.append(tool_result(call, note, error=True))
                    else:
                        messages.append(self._run_tool(call, passages, step, guard))
                s.set(searches=step.searches)
        why = f"the agent reached its limit of {self.max_steps} steps"
        return self._fallback(question, passages, steps, STEP_LIMIT, why)

    def _turn(self, messages: list[ChatMessage], passages: list[SearchResult], first: bool) -> ChatResult:
        """The first turn must search (named tool choice, which every provider here honours, the
        local model's grammar included): an answer is never written from nothing read."""
        read = read_versions(passages)  # the caller's key, tenant and reader, and the versions it read
        context = replace(self.context, sources=tuple(read), versions=tuple(read.items()))
        return self.gateway.chat(
            messages,
            model=self.route,
            max_tokens=self.max_tokens,
            context=context,
            tools=[SEARCH_TOOL],
            tool_choice=SEARCH_TOOL.name if first else "auto",
        )

    def _run_tool(self, call: ToolCall, passages: list[SearchResult], step: Step, guard: Guarded) -> ChatMessage:
        """The tool's result as the next message; a failing search is told to the model (it may
        try again), never raised: the loop's bound ends a model that keeps failing."""
        if call.name != SEARCH_TOOL.name:  # the gateway validated the name; belt and braces
            return tool_result(call, f"unknown tool {call.name!r}", error=True)
        args = SEARCH_TOOL.parse(call)
        assert isinstance(args, SearchDocuments)
        try:
            found = self.search(args.query, args.k, _model_filters(args.filters))
        except InjectionBlocked:
            raise
        except (RagwrightError, ValueError) as exc:
            step.searches.append({"query": args.query, "error": str(exc)[:300]})
            return tool_result(call, f"search failed: {exc}", error=True)
        found = guard.check(found)  # flagged passages: refused (block) or left out (drop) before the model reads them
        numbers = [_number(passages, r) for r in found]
        step.searches.append({"query": args.query, "chunks": [r.chunk_id for r in found]})
        if not found:
            return tool_result(call, "no passages matched")
        shown = zip(numbers, found, strict=True)
        body = "\n\n".join(f"[{n}] ({shown_location(r)})\n{r.text[:PASSAGE_CHARS]}" for n, r in shown)
        return tool_result(call, body)

    def _finish(self, question: str, text: str, passages: list[SearchResult], steps: list[Step]) -> AgentRun:
        text = text.strip()
        if found_nothing(text):
            return self._fallback(question, passages, steps, NO_ANSWER, "the model found no answer")
        with span("citation_check") as s:
            checked = check_citations(question, text, passages)
            s.set(dropped=len(checked.dropped_sentences) if checked else "all")
        if checked is None:
            reason = "no sentence the model wrote was supported by a passage it found"
            return self._fallback(question, passages, steps, NO_ANSWER, reason)
        checked.mode = "agent"
        return AgentRun(checked, ANSWERED, steps)

    def _fallback(
        self,
        question: str,
        passages: list[SearchResult],
        steps: list[Step],
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
        return AgentRun(answer, status, steps)


class Guarded:
    """The injection policy over a whole loop: the question checked once, each search's passages
    as they come; one report (Answer.guard) for all of them."""

    def __init__(self, question: str, policy: str) -> None:
        self.question, self.policy = question, policy
        self.report: dict[str, Any] = {}

    def check(self, found: list[SearchResult]) -> list[SearchResult]:
        if self.policy == "off" or (self.report and not found):
            return found
        screening = screen(self.question, found, self.policy)  # raises InjectionBlocked under block
        self.merge(screening.report)
        return screening.kept

    def conversation(self, history: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The turns of `history` the model reads, as a follow-up's rewriter reads them
        (followup.read_turns: the last few, clipped), each checked as the question is."""
        turns = [Turn("user" if m.role == "user" else "assistant", m.content) for m in history]
        return [ChatMessage(t.role, t.content) for t in read_turns(turns, self.policy)[0]]

    def merge(self, report: dict[str, Any]) -> None:
        if not self.report:
            self.report = report
            return
        for key in ("flagged", "dropped"):
            seen = {entry["chunk_id"] for entry in self.report[key]}
            self.report[key] += [entry for entry in report.get(key, []) if entry["chunk_id"] not in seen]

    @property
    def note(self) -> str:
        return Screening([], self.report).note if self.report else ""


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
