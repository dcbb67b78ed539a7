"""Export of stored traces over OTLP/HTTP (JSON encoding) to a collector: Jaeger, Tempo,
Langfuse, Phoenix, an OpenTelemetry Collector. Off unless `[observe] otlp_endpoint` is set:
nothing leaves the machine by default.

Spans follow the OpenTelemetry GenAI semantic conventions where they apply: a model call is a
`chat` operation with `gen_ai.request.model`, `gen_ai.response.model` and
`gen_ai.usage.input_tokens` / `output_tokens`; retrieval spans carry `ragwright.*` attributes.
Texts (questions, passages, answers, error messages, which may quote a provider's reply to a
request) are exported only with `otlp_include_text = true` (without it an error is named by its
kind, e.g. `ProviderError`), and then as the store keeps them (redacted when `[observe] redact`
is on). The export runs in the store's background trace writer; a collector that is down costs a
logged warning, never a request.

A collector that answers 429, 502, 503 or 504 (the OTLP/HTTP specification's retryable codes) is
asked again after a back-off: its Retry-After when it sends one, else 0.5 s, 1 s, 2 s with jitter,
three retries at most and never more than `max_wait_s` of waiting for one batch, since the writer
thread, and a closing store, wait with it."""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

log = logging.getLogger("ragwright.otlp")
# "reason": a fallback's reason is the failed call's error, which can quote the request
_TEXT_KEYS = {"query", "question", "input", "output", "answer", "text", "messages", "error", "reason"}
RETRYABLE = frozenset({429, 502, 503, 504})
_ERROR_KIND = re.compile(r"[A-Za-z_][\w.]{0,80}(?=: )")


class OtlpExporter:
    def __init__(
        self,
        endpoint: str,
        headers: dict[str, str] | None = None,
        *,
        include_text: bool = False,
        timeout_s: float = 5.0,
        service: str = "ragwright",
        retries: int = 3,
        backoff_s: float = 0.5,
        max_wait_s: float = 5.0,
    ) -> None:
        self.url = endpoint.rstrip("/") + ("" if endpoint.rstrip("/").endswith("/v1/traces") else "/v1/traces")
        self.include_text = include_text
        self.service = service
        self.retries, self.backoff_s, self.max_wait_s = retries, backoff_s, max_wait_s
        self._client = httpx.Client(timeout=timeout_s, headers={"Content-Type": "application/json", **(headers or {})})

    def export(self, traces: Sequence[dict[str, Any]]) -> bool:
        """Send one batch, retrying a throttled or unavailable collector; False (and a warning) when
        the collector did not take it."""
        if not traces:
            return True
        body, waited = self.payload(traces), 0.0
        for attempt in range(self.retries + 1):
            try:
                reply = self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                log.warning("OTLP export to %s failed: %s", self.url, exc)
                return False
            if reply.status_code < 300:
                return True
            pause = self._pause(reply, attempt)
            if reply.status_code not in RETRYABLE or attempt == self.retries or waited + pause > self.max_wait_s:
                break
            time.sleep(pause)
            waited += pause
        log.warning("OTLP export to %s answered %s: %s", self.url, reply.status_code, reply.text[:200])
        return False

    def _pause(self, reply: httpx.Response, attempt: int) -> float:
        """Seconds before the next try: the collector's Retry-After (in seconds) when it gives one,
        else exponential back-off with jitter, between half and all of backoff_s * 2**attempt (so
        that exporters throttled together do not come back together)."""
        try:
            return max(0.0, float(reply.headers["Retry-After"]))  # a number of seconds
        except (KeyError, ValueError):
            ceiling = self.backoff_s * 2.0**attempt
            return ceiling / 2 + random.random() * ceiling / 2

    def payload(self, traces: Sequence[dict[str, Any]]) -> dict[str, Any]:
        spans = [span for trace in traces for span in self._spans(trace)]
        return {
            "resourceSpans": [
                {
                    "resource": {"attributes": _attributes({"service.name": self.service})},
                    "scopeSpans": [{"scope": {"name": "ragwright"}, "spans": spans}],
                }
            ]
        }

    def close(self) -> None:
        self._client.close()

    # -- mapping ------------------------------------------------------------------------------

    def _spans(self, trace: dict[str, Any]) -> list[dict[str, Any]]:
        trace_id = _hex_id(trace["trace_id"], 16)
        root_id = _hex_id(trace["trace_id"] + "/root", 8)
        root_attrs = {
            "ragwright.trace_id": trace["trace_id"],
            "ragwright.tenant": trace.get("tenant"),
            "ragwright.key_id": trace.get("key_id"),
            "ragwright.cost_usd": trace.get("cost_usd"),
            "gen_ai.usage.input_tokens": trace.get("input_tokens") or None,
            "gen_ai.usage.output_tokens": trace.get("output_tokens") or None,
        }
        if self.include_text:
            root_attrs.update({f"ragwright.input.{k}": v for k, v in (trace.get("input") or {}).items()})
        out = [
            _span(
                trace_id,
                root_id,
                None,
                trace["name"],
                trace["start"],
                trace["duration_ms"],
                trace.get("status", "ok"),
                self._error(trace.get("error")),
                root_attrs,
            )
        ]
        for s in trace.get("spans") or []:
            parent = _hex_id(trace["trace_id"] + "/" + s["parent_id"], 8) if s.get("parent_id") else root_id
            span_id = _hex_id(trace["trace_id"] + "/" + s["span_id"], 8)
            out.append(
                _span(
                    trace_id,
                    span_id,
                    parent,
                    s["name"],
                    s["start"],
                    s["duration_ms"],
                    s.get("status", "ok"),
                    self._error(s.get("error")),
                    self._attributes_of(s["name"], s.get("attributes") or {}),
                )
            )
        return out

    def _error(self, error: str | None) -> str | None:
        """The error's text, or without `include_text` its kind alone: the text may quote a
        provider's reply to the request, and with it the request's own words."""
        if not error or self.include_text:
            return error
        kind = _ERROR_KIND.match(error)
        return kind.group(0) if kind else "error"

    def _attributes_of(self, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if name in ("model.call", "model.attempt"):
            out["gen_ai.operation.name"] = "chat"
            out["gen_ai.request.model"] = attrs.get("route") or attrs.get("model")
            out["gen_ai.response.model"] = attrs.get("model")
            out["gen_ai.usage.input_tokens"] = attrs.get("input_tokens")
            out["gen_ai.usage.output_tokens"] = attrs.get("output_tokens")
            out["gen_ai.request.max_tokens"] = attrs.get("max_tokens")
        for key, value in attrs.items():
            if key in _TEXT_KEYS and not self.include_text:
                continue
            if isinstance(value, (str, int, float, bool)):
                out[f"ragwright.{key}"] = value
            elif isinstance(value, (list, dict)) and self.include_text:
                out[f"ragwright.{key}"] = str(value)[:4000]
        return out


def _span(
    trace_id: str,
    span_id: str,
    parent: str | None,
    name: str,
    start: float,
    duration_ms: float,
    status: str,
    error: str | None,
    attrs: dict[str, Any],
) -> dict[str, Any]:
    begin = int(start * 1e9)
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(begin),
        "endTimeUnixNano": str(begin + int(duration_ms * 1e6)),
        "attributes": _attributes(attrs),
        "status": {"code": 2, "message": (error or "")[:500]} if status == "error" else {"code": 1},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _attributes(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, value in values.items():
        if value is None:
            continue
        wrapped: dict[str, bool | str | float]
        if isinstance(value, bool):
            wrapped = {"boolValue": value}
        elif isinstance(value, int):
            wrapped = {"intValue": str(value)}
        elif isinstance(value, float):
            wrapped = {"doubleValue": value}
        else:
            wrapped = {"stringValue": str(value)}
        out.append({"key": key, "value": wrapped})
    return out


def _hex_id(text: str, size: int) -> str:
    """OTLP ids are 16 (trace) or 8 (span) bytes in hex: derived from ragwright's own ids."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[: size * 2]
