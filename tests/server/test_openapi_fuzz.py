"""schemathesis against the served OpenAPI schema: whatever it sends, with a valid key, the
server never answers with a 5xx."""

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from ragwright import Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.conftest import SAMPLE_CORPUS

_DIR = Path(tempfile.mkdtemp(prefix="ragwright-fuzz-"))
_WS = Workspace(_DIR / "data")
_WS.ingest([SAMPLE_CORPUS])
KEY = create_key(_WS.store, "acme", ["read", "write", "admin"], ["hr"])["key"]
APP = create_app(workspace=_WS)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def _cleanup():
    yield
    _WS.close()
    shutil.rmtree(_DIR, ignore_errors=True)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=[schemathesis.checks.not_a_server_error])
