"""An agent ask's wiring (generate/agent.py holds the loop itself). The loop's searches and its
extractive fallback go through the workspace's one retrieval (`Retrieve`, Workspace._retrieve), so
an agent searches with the retriever and question limit a plain ask uses, the caller's filters
laid over the model's, and its fallback reads the plain ask's own retrieval of the question."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import AnswerSettings
from ..errors import ConfigError
from ..generate.agent import Agent, steps_json
from ..generate.followup import Turn
from ..models.chat import ChatMessage
from ..models.gateway import Gateway
from ..models.types import CallContext
from ..retrieve.retriever import Retrieval
from ..store.contract import Filters
from ..store.sql import ShownSource
from ..types import Answer, SearchResult

# (question, filters, k or None for [answer] context_chunks) -> the retrieval an ask reads
Retrieve = Callable[[str, Filters | None, int | None], Retrieval]
# (question, retrieval) -> the extractive answer over it, for the caller
Extractive = Callable[[str, Retrieval], Answer]


def agent_route(settings: AnswerSettings) -> str:
    """The route the agent's turns take: an agent ask has no extractive mode of its own."""
    if not settings.model:
        raise ConfigError("an agent ask needs a model: set [answer] model to a route or a [models.NAME]")
    return settings.model


def agent_loop(
    gateway: Gateway,
    settings: AnswerSettings,
    retrieve: Retrieve,
    extractive: Extractive,
    filters: Filters | None,
    context: CallContext | None,
    max_steps: int | None,
    data_dir: Path | None = None,
) -> Agent:
    """The loop for one ask; `filters` are the caller's (access among them) and bound every search.
    A reader's (filters with an access) `source` the model chooses is matched as the API shows
    sources (store.sql.ShownSource, under `data_dir`), as the reader's own is: matched against the
    server path, "search with source /srv/d*" would spell that path out through the answers."""
    caller, cap = dict(filters or {}), settings.agent_max_steps
    shown_under = data_dir if "access" in caller else None

    def search(query: str, k: int, wanted: dict[str, Any] | None) -> list[SearchResult]:
        mine = dict(wanted or {})
        if shown_under is not None and "source" in mine:
            mine["source"] = ShownSource.of(shown_under, mine["source"])
        return retrieve(query, {**mine, **caller}, k).results

    def fallback(question: str, passages: list[SearchResult]) -> Answer:
        """Extractive, over what the agent found first and then the question's own search."""
        retrieval = retrieve(question, caller or None, None)
        seen = {p.chunk_id for p in passages}
        size = max(settings.context_chunks, 1)
        retrieval.results = [*passages, *(r for r in retrieval.results if r.chunk_id not in seen)][: size * 2]
        return extractive(question, retrieval)

    return Agent(
        gateway,
        agent_route(settings),
        search,
        fallback,
        max_steps=min(max_steps or cap, cap),  # a caller may ask for fewer turns, never more
        max_tokens=settings.max_output_tokens,
        context=context or CallContext(),
        injection=settings.injection,
    )


def run_agent(loop: Agent, question: str, history: Sequence[Turn], trace: Any) -> Answer:
    """The loop's answer, carrying how it was reached (status, steps, token usage), in `trace` too."""
    run = loop.run(question, [ChatMessage(turn.role, turn.content) for turn in history])
    answer = run.answer
    answer.agent = {"status": run.status, "steps": steps_json(run.steps), "usage": run.usage}
    if trace is not None:
        answer.trace_id = trace.trace_id
        trace.output = {"answer": answer.answer, "abstained": answer.abstained, **answer.agent}
    return answer
