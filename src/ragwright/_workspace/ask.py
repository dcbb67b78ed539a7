"""An ask's steps, for Workspace.ask: the question checked before any work on it, a follow-up made
standalone (generate/followup.py), the retrieval and the answer over it, all under one trace; or,
for an agent ask, the loop agent.py wires.

What an ask takes from its workspace comes in as AskParts, built by Workspace._ask_parts, as an
evaluation run's EvalParts are: the parts the workspace builds on first use (its store, gateway and
answer model) come as callables, called only where the ask needs them."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..generate.followup import Rewrite, Turn, standalone_question
from ..models.types import CallContext
from ..retrieve import check_query
from .agent import Retrieve, agent_loop, agent_route, run_agent
from .parts import access_of, ask_output, in_context, nothing_to_read

if TYPE_CHECKING:
    from ..config import Settings
    from ..models.chat import ChatModel
    from ..models.gateway import Gateway
    from ..retrieve.retriever import Retrieval
    from ..store.contract import Filters, Store
    from ..types import Answer

# (name, input, context) -> a trace of one request, entered with `with` (Workspace.trace)
Trace = Callable[[str, dict[str, Any], CallContext | None], Any]


class Answering(Protocol):
    """Workspace._answer: the answer over a retrieval, its model called as `context`."""

    def __call__(
        self,
        question: str,
        retrieval: Retrieval,
        filters: Filters | None,
        context: CallContext | None,
        *,
        on_text: Callable[[str], None] | None = None,
        extractive: bool = False,
    ) -> Answer: ...


@dataclass(frozen=True)
class AskParts:
    """What an ask takes from its workspace."""

    settings: Settings  # [answer] (the question's limit, the injection policy, the agent's) and the data dir
    store: Callable[[], Store]  # whether the reader may read any document at all
    gateway: Callable[[], Gateway]  # an agent ask's turns
    answer_model: Callable[[], ChatModel | None]  # a follow-up's rewriter
    trace: Trace
    retrieve: Retrieve
    answer: Answering


def plain_ask(
    parts: AskParts,
    question: str,
    filters: Filters | None,
    context: CallContext | None,
    history: Sequence[Turn],
    on_text: Callable[[str], None] | None,
) -> Answer:
    """The question checked, a follow-up made standalone, the retrieval and the answer over it."""
    with parts.trace("ask", {"question": question}, context) as t:
        limit = parts.settings.answer.max_question_chars
        question = check_query(question, limit)  # before any work on it (a follow-up's rewrite reads it)
        rewrite = standalone(parts, question, history, context, t) if history else None
        if rewrite is not None:
            question = check_query(rewrite.question, limit)
        retrieval = parts.retrieve(question, filters, None)
        if retrieval.results or parts.store().count_documents(access_of(filters)):
            answer = parts.answer(question, retrieval, filters, context, on_text=on_text)
        else:  # nothing to read at all: saying "no passage matches" would send them rephrasing
            answer = nothing_to_read(question, filters)
        if rewrite is not None and rewrite.screened is not None and answer.guard:
            # the caller's own words, beside the rewrite's verdict: a rewriter may word away an instruction
            answer.guard["asked"] = rewrite.screened
        if t is not None:
            answer.trace_id, t.output = t.trace_id, ask_output(answer, retrieval.results)
    return answer


def agent_ask(
    parts: AskParts,
    question: str,
    filters: Filters | None,
    context: CallContext | None,
    history: Sequence[Turn],
    max_steps: int | None,
) -> Answer:
    """The agent loop (agent.py) over the workspace's retrieval and extractive answer."""
    settings = parts.settings
    agent_route(settings.answer)  # no model: refused before the question is read
    question = check_query(question, settings.answer.max_question_chars)
    extractive = functools.partial(parts.answer, filters=filters, context=context, extractive=True)
    loop_parts = (parts.gateway(), settings.answer, parts.retrieve, extractive)
    loop = agent_loop(*loop_parts, filters, context, max_steps, settings.data_dir)
    with parts.trace("ask", {"question": question, "agent": True}, context) as t:
        return run_agent(loop, question, history, t)


def standalone(parts: AskParts, question: str, history: Sequence[Turn], context: CallContext | None, t: Any) -> Rewrite:
    """A follow-up rewritten by the answer model, or carried over without one (generate/followup.py);
    the trace's input keeps both questions."""
    model = in_context(parts.answer_model(), context)
    answer = parts.settings.answer  # its injection policy screens the turns the rewriter reads
    rewrite = standalone_question(
        question, history, model, max_chars=answer.max_question_chars, injection=answer.injection
    )
    if t is not None:
        t.input.update(rewrite.trace_fields())
    return rewrite
