"""A real local HTTP server that speaks the OpenAI wire protocol (chat completions and
embeddings) and can be told what to answer or how to fail. Tests use it instead of mocks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], str] = lambda body: "I don't know."
        self.status = 200
        self.embed_dim = 8
        self.embed_first: float | None = None  # when set, every vector's first value (NaN, inf: a broken server)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["_auth"] = self.headers.get("Authorization")
                body["_path"] = self.path
                server.requests.append(body)
                if server.status != 200:
                    return self._send(server.status, {"error": {"message": "told to fail"}})
                if self.path.endswith("/chat/completions"):
                    text = server.reply(body)
                    return self._send(
                        200,
                        {
                            "id": "x",
                            "object": "chat.completion",
                            "model": body["model"],
                            "choices": [
                                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                            ],
                            "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                        },
                    )
                if self.path.endswith("/embeddings"):
                    data = []
                    for i, text in enumerate(body["input"]):
                        rng = np.random.default_rng(abs(hash(text)) % (2**32))
                        vector = rng.standard_normal(server.embed_dim).tolist()
                        if server.embed_first is not None:
                            vector[0] = server.embed_first
                        data.append({"index": i, "embedding": vector})
                    return self._send(200, {"data": data[::-1], "model": body["model"]})  # out of order on purpose
                self._send(404, {"error": {"message": "no such route"}})

            def _send(self, status: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
