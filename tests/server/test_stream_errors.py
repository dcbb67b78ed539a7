"""A streamed answer that fails after its first event ends with an error event: a ragwright error's
message is written for the caller; anything else (a bug) may hold paths or data, and says only
what app.py's 500 says, its traceback in the server's log."""

from __future__ import annotations

import json
import logging
import queue

from starlette.requests import Request

from ragwright.config import Settings
from ragwright.errors import ModelError
from ragwright.server.app import create_app
from ragwright.server.ask_stream import _sse_answer
from ragwright.server.deps import UNEXPECTED
from ragwright.workspace import Workspace


def error_event(tmp_path, exc: Exception) -> dict:
    app = create_app(workspace=Workspace(settings=Settings(data_dir=tmp_path / "data")))
    request = Request({"type": "http", "app": app, "headers": [], "method": "POST", "path": "/v1/ask"})
    events: queue.Queue = queue.Queue()
    events.put(("error", exc))
    sent = list(_sse_answer(request, ("delta", "The allowance is "), events, set()))
    assert sent[0].startswith("event: delta") and sent[-1].startswith("event: error")
    return json.loads(sent[-1].split("data: ", 1)[1])


def test_a_bugs_text_stays_in_the_log(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="ragwright.server.ask_stream"):
        shown = error_event(tmp_path, KeyError("/srv/ragwright/data/uploads/ab12/salaries.xlsx"))
    assert shown == {"type": "internal_error", "message": UNEXPECTED}  # was KeyError and the path
    assert "salaries.xlsx" in caplog.text


def test_a_ragwright_errors_message_is_the_callers(tmp_path):
    shown = error_event(tmp_path, ModelError("model 'primary': did not answer in time (ReadTimeout)"))
    assert shown == {"type": "ModelError", "message": "model 'primary': did not answer in time (ReadTimeout)"}
