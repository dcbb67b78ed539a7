"""What an evaluation run takes from its workspace comes in as EvalParts (Workspace._eval_parts):
the index answers through the workspace's own answer model, a retrieval run builds no gateway,
and evaluation.py reaches into no private attribute of a workspace."""

from __future__ import annotations

import ast
import inspect

from ragwright import Settings, Workspace
from ragwright._workspace import evaluation
from ragwright.models.types import ChatResult
from tests.evaluate.test_answers_eval import make_data


class Recording:
    """A ChatModel that answers with its first passage, cited, and counts its calls."""

    name = "recording"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages, *, temperature=0.0, max_tokens=512, sources=()) -> ChatResult:
        self.calls += 1
        return ChatResult(text="Employees get 25 days of paid vacation every year [1].", model=self.name)


def test_the_evaluation_index_answers_through_the_workspaces_model(embedder, tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    settings.answer.abstain_threshold = -1.0  # every question reaches the model
    model = Recording()
    with Workspace(settings=settings, embedder=embedder, chat_model=model) as ws:
        run = ws.evaluate_answers(make_data(tmp_path))
    assert run.n_queries == 5 and model.calls >= 4  # the index had no model of its own: it used this one


def test_a_retrieval_run_builds_no_gateway(workspace, tmp_path):
    run = workspace.evaluate_retrieval(make_data(tmp_path), pipeline="hybrid")
    assert run.kind == "retrieval" and run.pipeline == "hybrid"
    assert workspace._gateway is None  # EvalParts hands the gateway over as a callable, called by judges only


def test_evaluation_reads_no_private_attribute_of_another_object():
    tree = ast.parse(inspect.getsource(evaluation))
    private = [
        f"{ast.unparse(node)} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    ]
    assert private == []
