"""Server paths through streamed answers. The edge scrubber (server/uploads.PathScrubber) rewrites
each SSE event on its own, so a path cut across two events leaves whole once the client joins
them: (a) a model that repeats the location its prompt gave a passage streams it in sub-word
chunks; (b) with a space in the data dir ("Application Support"), an answer sent in word pieces
cut the location at the space. Models are given the location as the API shows it (never the
server path), and no piece or delta cuts a path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings
from ragwright.models.chat import ChatMessage, ChatResult
from ragwright.server import create_app
from ragwright.server.ask_stream import path_carry, pieces
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer, tool_call

PARKING = ("parking.md", b"# Parking\nParking permits are renewed each January.\n", "text/markdown")
DIGESTS = re.compile(r"uploads/[0-9a-f]{16}/[0-9a-f]{16}/")


class Repeater:
    """A chat model that cites passage [1] by the location its prompt gives, streamed 4 characters
    at a time, as a BPE model cuts a path into many tokens. Keeps the prompts it was given."""

    name = "repeater"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def _text(self, messages: Sequence[ChatMessage]) -> str:
        prompt = messages[-1].content
        self.prompts.append(prompt)
        where = re.search(r"\[1\] \((.+?)\)\n", prompt)
        return f"Parking permits are renewed each January, as {where.group(1) if where else '?'} says [1]."

    def complete(self, messages, *, temperature=0.0, max_tokens=512, sources=()) -> ChatResult:
        return ChatResult(text=self._text(messages), model=self.name)

    def stream(self, messages, *, temperature=0.0, max_tokens=512, sources=()) -> Iterator[str]:
        text = self._text(messages)
        for i in range(0, len(text), 4):
            yield text[i : i + 4]


def uploaded(client: TestClient) -> None:
    up = client.post("/v1/documents", files={"file": PARKING}).json()
    while client.get(up["status_url"]).json()["status"] not in ("done", "failed"):
        pass


def sse(text: str) -> list[tuple[str, dict]]:
    out, kind = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
    return out


def serving(data_dir: Path, embedder, **kw) -> tuple[Workspace, TestClient]:
    ws = Workspace(settings=Settings(data_dir=data_dir, **kw.pop("settings", {})), embedder=embedder, **kw)
    client = TestClient(create_app(workspace=ws))
    client.headers["Authorization"] = "Bearer " + create_key(ws.store, "t1", ["read", "write"])["key"]
    return ws, client


def streamed_draft(data_dir: Path, embedder, model) -> str:
    """The deltas of a streamed ask over the uploaded parking page, joined as a client joins them."""
    ws, client = serving(data_dir, embedder, chat_model=model)
    with client:
        uploaded(client)
        question = {"question": "When are parking permits renewed?", "stream": True}
        events = sse(client.post("/v1/ask", json=question).text)
    ws.close()
    return "".join(data["text"] for kind, data in events if kind == "delta")


def assert_no_server_path(text: str, data_dir: Path) -> None:
    assert str(data_dir.resolve()) not in text, text
    assert not DIGESTS.search(text), text


def test_a_model_repeating_its_sources_location_streams_no_server_path(tmp_path, embedder):
    model, data_dir = Repeater(), tmp_path / "data"
    deltas = streamed_draft(data_dir, embedder, model)
    assert "parking.md" in deltas  # the model named its source, as the API shows it
    assert_no_server_path(deltas, data_dir)
    assert model.prompts and all(str(data_dir.resolve()) not in p for p in model.prompts)


@pytest.mark.parametrize("stream", [False, True])
def test_a_space_in_the_data_dir_leaves_no_server_path_in_a_rag_chat(tmp_path, embedder, stream):
    data_dir = tmp_path / "Application Support" / "ragwright"
    ws, client = serving(data_dir, embedder)
    with client:
        uploaded(client)
        body = {"model": "rag:default", "messages": [{"role": "user", "content": "When are parking permits renewed?"}]}
        res = client.post("/v1/chat/completions", json={**body, "stream": stream})
    ws.close()
    if stream:
        chunks = [json.loads(line[6:]) for line in res.text.splitlines() if line.startswith("data: {")]
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices"))
    else:
        content = res.json()["choices"][0]["message"]["content"]
    assert "Sources:" in content and "parking.md" in content
    assert_no_server_path(content, data_dir)


def test_a_space_in_the_data_dir_leaves_no_server_path_in_a_streamed_refusal(tmp_path, embedder):
    """An extractive refusal names the closest passage's location; its pieces must not cut it."""
    data_dir = tmp_path / "Application Support" / "ragwright"
    ws, client = serving(data_dir, embedder, settings={"answer": AnswerSettings(abstain_threshold=0.99)})
    with client:
        uploaded(client)
        question = {"question": "When are parking permits renewed?", "stream": True}
        events = sse(client.post("/v1/ask", json=question).text)
    ws.close()
    answer = dict(events)["answer"]
    deltas = "".join(data["text"] for kind, data in events if kind == "delta")
    assert answer["abstained"] and "parking.md" in deltas  # the refusal names the passage it came closest to
    assert_no_server_path(deltas, data_dir)


def test_the_agents_search_results_give_the_model_no_server_path(tmp_path, embedder):
    seen: list[dict] = []

    def reply(body):
        seen.append(body)
        if len(seen) == 1:
            return [tool_call("search_documents", {"query": "parking permits"})]
        return "Parking permits are renewed each January [1]."

    with ProviderServer(reply=reply) as srv:
        settings = {
            "models": {"m": ModelSettings(base_url=srv.base_url + "/v1", model="m", timeout_s=5)},
            "routes": {"default": RouteSettings(models=["m"])},
            "answer": AnswerSettings(model="default"),
            "gateway": GatewaySettings(max_retries=0, cache=False),
        }
        data_dir = tmp_path / "data"
        ws, client = serving(data_dir, embedder, settings=settings)
        with client:
            uploaded(client)
            res = client.post("/v1/ask", json={"question": "When are parking permits renewed?", "agent": True})
        ws.close()
    assert res.status_code == 200, res.text
    results = [m["content"] for body in seen for m in body["messages"] if m["role"] == "tool"]
    assert results and "parking.md" in results[0]
    for text in results:
        assert_no_server_path(text, data_dir)


@pytest.mark.parametrize(
    "path", ["/srv/Application Support/ragwright/uploads/x.md", "C:\\Users\\me\\My Documents\\rag\\x.md"]
)
def test_pieces_never_cut_a_path(path):
    text = f"Renewed each January [1].\n\nSources:\n[1] {path} (Parking)\n[2] other.md"
    got = list(pieces(text))
    assert "".join(got) == text
    assert any(path in piece for piece in got)
    assert len(got) > 5  # the rest still comes word by word


@pytest.mark.parametrize("size", [1, 3, 4, 9])
def test_a_drafts_deltas_never_cut_a_path(size):
    root = "/srv/Application Support/ragwright"
    draft = f"Renewed each January, as {root}/uploads/x.md (Parking) says [1].\nAlso [2]."
    carry, deltas = path_carry(), []
    for i in range(0, len(draft), size):
        deltas.append(carry.feed(draft[i : i + size]))
    deltas.append(carry.end())
    assert "".join(deltas) == draft
    assert any(root in d for d in deltas)  # whole in one event, where the scrubber finds it
    assert not any(("Application" in d) != (root in d) for d in deltas)


def test_with_the_data_dir_known_only_its_paths_wait():
    root = "/srv/Application Support/ragwright"
    draft = f"Edit /etc/hosts and then read {root}/uploads/{'a' * 16}/{'b' * 16}/x.md (Parking) now [1]."
    carry, deltas = path_carry(root), []
    for i in range(0, len(draft), 3):
        deltas.append(carry.feed(draft[i : i + 3]))
    deltas.append(carry.end())
    assert "".join(deltas) == draft
    assert any(f"{root}/uploads/{'a' * 16}/{'b' * 16}/" in d for d in deltas)  # the scrubber's whole rule
    assert not any("/etc/hosts" in d and "then" in d for d in deltas)  # /etc/hosts held nothing back


class Knowing(Repeater):
    """A model that writes the server path whatever its prompt says (as one might from a passage
    that quotes it), in 4-character chunks."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def _text(self, messages: Sequence[ChatMessage]) -> str:
        return f"Parking permits are renewed each January, see {self.path}/uploads/{'0' * 16}/{'1' * 16}/p.md [1]."


def test_a_draft_that_writes_a_spaced_data_dir_streams_no_server_path(tmp_path, embedder):
    data_dir = tmp_path / "Application Support" / "ragwright"
    data_dir.mkdir(parents=True)
    deltas = streamed_draft(data_dir, embedder, Knowing(str(data_dir.resolve())))
    assert "renewed each January" in deltas
    assert_no_server_path(deltas, data_dir)


def test_the_carry_sends_a_plain_word_with_its_piece():
    """A stalled model's words have all been streamed (the TypeScript client's abort and timeout
    tests wait for them); only a word that may become the start of a path waits."""
    from ragwright.server.ask_stream import path_carry

    carry = path_carry("/srv/data dir")
    assert carry.feed("Employees") == "Employees" and carry.feed(" travelling") == " travelling"
    assert carry.feed(" see C") == " see " and carry.feed(":/Windows ok") == "C:/Windows ok"  # not the data dir
    assert carry.feed(" at /srv/da") == " at " and carry.feed("ta dir") == ""  # may still become the data dir
    carry = path_carry("/srv/data dir")
    assert carry.feed("A (") == "A " and carry.feed("note) done") == "(note) done"
