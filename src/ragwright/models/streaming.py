"""Streaming through the gateway: text as it arrives, the whole result at the end. A failure
before the first text falls back to the next model; after it, StreamInterrupted carries the
partial text, marked incomplete: never a silent switch of model mid-answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, NoReturn

from ..config import ModelSettings
from ..errors import AllModelsFailed, ProviderError, StreamInterrupted
from ..observe import current_trace, note_sent, span
from . import ledger
from .providers import Delta, ProviderReply, StreamCancel
from .types import Attempt, ChatResult, Usage

if TYPE_CHECKING:
    from ._call import Call, Try


class StreamAborts:
    """Stops every stream opened inside `active()`, from another thread: a streamed answer whose
    client went away frees its model connection at once, even though the stream was opened deep
    inside the answer pipeline. A stream opened after `abort()` is stopped as it opens."""

    def __init__(self) -> None:
        self._aborts: list[Callable[[], None]] = []
        self._aborted = False
        self._lock = threading.Lock()

    @contextmanager
    def active(self) -> Iterator[StreamAborts]:
        token = _scope.set(self)
        try:
            yield self
        finally:
            _scope.reset(token)

    def register(self, abort: Callable[[], None]) -> None:
        with self._lock:
            self._aborts.append(abort)
            if not self._aborted:
                return
        abort()

    def abort(self) -> None:
        with self._lock:
            self._aborted, aborts = True, list(self._aborts)
        for abort in aborts:
            abort()


_scope: ContextVar[StreamAborts | None] = ContextVar("ragwright_stream_aborts", default=None)


class ChatStream:
    """Iterate for text as it arrives; `result` holds the whole ChatResult at the end. A failure
    before the first text falls back to the next model; after it, StreamInterrupted carries the
    partial text, marked incomplete."""

    def __init__(self, call: Call, use_cache: bool) -> None:
        self._call = call
        self._use_cache = use_cache
        self.result: ChatResult | None = None
        self.text = ""
        self._cancel = StreamCancel()
        scope = _scope.get()
        if scope is not None:
            scope.register(self.abort)

    def abort(self) -> None:
        """Stop from another thread (the client went away): the upstream response is closed now,
        the iteration ends with StreamInterrupted, and no other model is tried."""
        self._cancel.cancel()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __iter__(self) -> Iterator[str]:
        """Inside a trace (an ask that streams its answer), the call is a "model.call" span, as
        Gateway.chat makes; a stream read outside one is traced from its record by its caller."""
        call = self._call
        with span("model.call", route=call.target, max_tokens=call.request.max_tokens, stream=True) as outer:
            note_sent(call.context.quoted())
            if current_trace() is not None:
                outer.set(input=call.transcript())
            yield from self._pieces()
            if self.result is not None:
                outer.set(**call.span_fields(self.result))

    def _pieces(self) -> Iterator[str]:
        call = self._call
        hit = call.cached() if self._use_cache else None
        if hit is not None:
            self.result, self.text = hit, hit.text
            yield hit.text
            return
        # a reply that must call a tool is held until settled: its text-only draft would be re-asked
        held = bool(call.request.tools) and call.request.tool_choice not in ("auto", "none")
        for attempt in call.tries():
            name, spec = attempt.name, attempt.spec
            parts: list[str] = []
            unseen: list[str] = []  # received, never sent to the reader (tool calls, a refusal): billed
            with attempt:
                if self._cancel.cancelled:  # aborted before this request went out: send none
                    self._interrupted(attempt, _aborted(name), "", "", blame=False)
                try:
                    items = call.gw.provider(name).stream(
                        call.request_for(spec), call.attempt_timeout(spec), self._cancel
                    )
                    for item in _restoring(call, spec, self._shown(name, items, unseen)):
                        if isinstance(item, ProviderReply):
                            self.result = self._settled(
                                call.succeeded(name, spec, item, attempt.started, self._use_cache)
                            )
                            yield from self._settled_text(held)
                            return
                        parts.append(item.text)
                        if self._cancel.cancelled:  # a socket hung up on still reads what the model sends
                            raise _aborted(name)
                        if held:
                            continue
                        self.text = "".join(parts)
                        yield item.text
                        if call.deadline.expired():
                            raise ProviderError(name, "timeout", f"{call.deadline.describe()} passed mid-stream")
                except ProviderError as exc:
                    if (parts and not held) or self._cancel.cancelled:  # text was sent, or nobody is left to answer:
                        # no silent switch to another model (an abort is not the model's fault)
                        cancelled = self._cancel.cancelled
                        self._interrupted(attempt, exc, "".join(parts), "".join(unseen), blame=not cancelled)
                    raise
                except GeneratorExit:  # the reader stopped reading and closed the stream
                    if self.result is None:  # mid-answer; a settled reply's text comes after its booking
                        self._cancel.cancel()  # the model stops writing now
                        cause = "the stream was closed by its reader"
                        self._partial(attempt, cause, "".join(parts), "".join(unseen), blame=False)
                    raise
        error = call.exhausted()
        if call.request.tools and isinstance(error, AllModelsFailed):
            from .tool_calls import overflow

            raise overflow(error, call.request) or error
        raise error

    def _shown(
        self, name: str, items: Iterable[Delta | ProviderReply], unseen: list[str]
    ) -> Iterator[Delta | ProviderReply]:
        """The provider's items less those the reader must not see (`Delta.shown` False: a tool
        call's pieces, a refusal), kept in `unseen` to be billed if the stream ends early. An
        abort stops the reading here too: a model may write a long call and no text at all."""
        for item in items:
            if isinstance(item, Delta) and not item.shown:
                unseen.append(item.text)
                if self._cancel.cancelled:
                    raise _aborted(name)
                continue
            yield item

    def _settled_text(self, held: bool) -> Iterator[str]:
        """The settled reply's text, when it was not streamed: the whole of it when the turn
        required a call (held), or after the streamed draft when the draft was re-asked (a
        draft already sent cannot be taken back; `self.text` is all that was sent, `result.text`
        the settled reply's own)."""
        assert self.result is not None
        if not (held or self.result.reasked) or not self.result.text:
            return
        piece = ("\n\n" if self.text else "") + self.result.text
        self.text += piece
        yield piece

    def _settled(self, result: ChatResult) -> ChatResult:
        """A reply's tool calls, checked as Gateway.chat checks them; the one re-ask, if needed,
        is not streamed: its calls are what matters, and they are sent whole. The streaming
        contract of a turn with tools: text arrives as the model writes it when the choice is
        "auto" or "none"; when the choice requires a call, only the settled reply's text is sent,
        once it has passed; a re-asked reply's text follows the rejected draft's, whole."""
        call = self._call
        if not call.request.tools:
            return result
        from .tool_calls import settle

        return settle(call.gw, call.request, call.target, call.context, result)

    def _interrupted(self, attempt: Try, exc: ProviderError, partial: str, unseen: str, blame: bool = True) -> NoReturn:
        self._partial(attempt, str(exc), partial, unseen, blame, exc.kind)
        raise StreamInterrupted(attempt.name, partial, str(exc)) from exc

    def _partial(self, attempt: Try, cause: str, partial: str, unseen: str, blame: bool, kind: str = "aborted") -> None:
        """A stream that ended before the model's reply: booked as a call, whose usage is the whole
        prompt and all of the reply received so far, the text (`partial`) and what the reader was
        not sent (`unseen`: tool calls' names and arguments, a refusal), counted from above as
        budgets count (the provider reports usage only at the end). This settles the budget
        reservation, so that a client that leaves mid-stream pays for what the model wrote (a word
        and then a 60 KB call: not the one word), and not after the reservation expires."""
        call, name, spec = self._call, attempt.name, attempt.spec
        call.attempts.append(Attempt(name, "error", cause, (time.perf_counter() - attempt.started) * 1000, kind))
        if blame:
            call.gw.breaker(name).failure()
        else:  # no verdict on the model: a half-open breaker lets its next probe go
            call.gw.breaker(name).release()
        usage = Usage(call.input_tokens, ledger.count_tokens(partial) + ledger.count_tokens(unseen), estimated=True)
        cost = ledger.cost_usd(spec, usage)
        self.result = ChatResult(
            partial,
            name,
            usage,
            (time.perf_counter() - call.t0) * 1000,
            "interrupted",
            cost,
            attempts=call.attempts,
            incomplete=True,
        )
        call._record(name, usage, cost, error=f"stream interrupted: {cause}")


def _aborted(model: str) -> ProviderError:
    return ProviderError(model, "aborted", "the stream was aborted")


def _restoring(
    call: Call, spec: ModelSettings, items: Iterable[Delta | ProviderReply]
) -> Iterator[Delta | ProviderReply]:
    """A redacting model's stream with its placeholders restored: a piece that may end inside
    one is held back until the placeholder is complete (the Redaction's restore_stream)."""
    privacy = call.privacy
    if spec.privacy != "redact" or privacy is None:
        yield from items
        return
    replies: list[ProviderReply] = []  # the stream's last item: the whole reply

    def texts() -> Iterator[str]:
        for item in items:
            if isinstance(item, Delta):
                yield item.text
            else:
                replies.append(item)

    for text in privacy.restore_stream(texts()):
        yield Delta(text)
    for reply in replies:
        yield call.restored(spec, reply)
