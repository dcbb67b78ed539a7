"""Workspaces the server's screening tests stand on, each over a loopback provider: one that
answers from documents under an [answer] injection policy, one with a route that blocks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key


def answering(tmp_path: Path, embedder: Any, provider: Any, policy: str) -> Workspace:
    """Model `m` behind route `default`, which writes answers under `[answer] injection = policy`."""
    settings = Settings(
        data_dir=tmp_path / "data",
        models={"m": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=5)},
        routes={"default": RouteSettings(models=["m"])},
        answer=AnswerSettings(model="default", injection=policy),
        gateway=GatewaySettings(max_retries=0, cache=False),
    )
    return Workspace(settings=settings, embedder=embedder)


def guarded(tmp_path: Path, embedder: Any, provider: Any, cache: bool = True) -> Workspace:
    """Model `plain` (no native tools) behind route `guarded`, whose injection policy is block."""
    settings = Settings(
        data_dir=tmp_path / "data",
        models={"plain": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=5, tools=False)},
        routes={"guarded": RouteSettings(models=["plain"], injection="block")},
        gateway=GatewaySettings(max_retries=0, cache=cache),
    )
    return Workspace(settings=settings, embedder=embedder)


def read_client(ws: Workspace, tenant: str = "t1") -> TestClient:
    """A client of the server over `ws` holding a new read key of `tenant`."""
    client = TestClient(create_app(workspace=ws))
    client.headers["Authorization"] = "Bearer " + create_key(ws.store, tenant, ["read"])["key"]
    return client
