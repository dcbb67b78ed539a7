"""What keeps calls dependable: backoff with jitter that honours Retry-After, a deadline per
call, and a circuit breaker per model."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2  # retries of the same model, after the first attempt, unless the model sets its own
    base_s: float = 0.25
    cap_s: float = 8.0
    max_retry_after_s: float = 30.0  # a longer Retry-After sends the call to the next model instead

    def retries(self, own: int | None) -> int:
        """How often a model is retried: its own `max_retries` when it sets one, else the gateway's."""
        return self.max_retries if own is None else own

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number `retry` (1-based); None: the model asked for a longer
        pause than max_retry_after_s, so the call moves on to the next one."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        return rng.uniform(0, self._backoff(retry))  # "full jitter"

    def longest_pauses_s(self, retries: int) -> float:
        """The most `retries` backoff pauses can add up to (Retry-After aside)."""
        return sum(self._backoff(r) for r in range(1, retries + 1))

    def _backoff(self, retry: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** (retry - 1)))


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A call's deadline and where it comes from, so that a call it stops can name the setting.
    `setting` is the key that set it ("routes.default.deadline_s"), or None when it was derived
    from the models' timeouts; `route` is the key that would set it."""

    seconds: float
    setting: str | None
    route: str

    def describe(self) -> str:
        if self.setting is None:
            return f"derived from the models' timeout_s; set {self.route} to change it"
        if self.setting != self.route:
            return f"{self.setting}, as {self.route} is not set"
        return self.setting


class Deadline:
    def __init__(self, seconds: float, rule: DeadlineRule | None = None) -> None:
        self.seconds = seconds
        self.rule = rule
        self.at = time.monotonic() + seconds

    def describe(self) -> str:
        """ "the call's deadline of 60 s (routes.default.deadline_s)": what an error says."""
        source = f" ({self.rule.describe()})" if self.rule is not None else ""
        return f"the call's deadline of {self.seconds:g} s{source}"

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


class CircuitBreaker:
    """Closed until `threshold` failures in a row; then open (calls skip this model) for
    `cooldown_s`; then half-open: one probe call decides whether it closes or opens again."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._probing:
                self._probing = True  # exactly one probe at a time
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = time.monotonic()
            self._probing = False

    def release(self) -> None:
        """The probe ended without a verdict on the model (e.g. a bad request): let another probe go."""
        with self._lock:
            self._probing = False
