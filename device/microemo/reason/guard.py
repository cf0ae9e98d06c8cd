"""What keeps the second opinion's costs and failures bounded.

``RateLimit``: at most N requests in any minute (a case waits for its turn). ``DailyBudget``:
the tokens of a UTC day, kept in a file so a restart does not start the day afresh; once a
request could take the day past the budget, no more are sent until midnight UTC.
``Breaker``: after N failed requests in a row the endpoint is left alone for a cool-down,
then one trial decides. ``AnswerCache``: the answers to identical requests (the same case
text for the same model), least recently used first out. All take the time from the caller,
so they are tested without sleeping.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict, deque
from datetime import date
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RateLimit:
    """At most ``per_minute`` requests in any 60 s (fractions: one every 60/N s)."""

    def __init__(self, per_minute: float) -> None:
        self.window = 60.0 if per_minute >= 1 else 60.0 / per_minute
        self.count = max(1, int(per_minute))
        self._sent: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """How long until one more request may go (0: now)."""
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) < self.count:
            return 0.0
        return self._sent[0] + self.window - now

    def take(self, now: float) -> None:
        self._sent.append(now)


class DailyBudget:
    """Tokens spent on the current UTC day, persisted in ``path`` (JSON ``{"day", "tokens"}``)."""

    def __init__(self, limit: int, path: Path | None) -> None:
        self.limit = limit
        self.path = path
        self.day, self.tokens = self._load()

    def _load(self) -> tuple[str, int]:
        if self.path is None or not self.path.exists():
            return "", 0
        try:
            data = json.loads(self.path.read_text())
            return str(data["day"]), int(data["tokens"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s: unreadable (%s); counting today's tokens from 0", self.path, exc)
            return "", 0

    def spent(self, today: date) -> int:
        if self.day != today.isoformat():
            self.day, self.tokens = today.isoformat(), 0
        return self.tokens

    def allows(self, today: date, worst_case: int) -> bool:
        """Whether a request that may cost ``worst_case`` tokens still fits today."""
        return self.limit == 0 or self.spent(today) + worst_case <= self.limit

    def add(self, today: date, tokens: int) -> None:
        self.tokens = self.spent(today) + tokens
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"day": self.day, "tokens": self.tokens}))
            os.replace(tmp, self.path)
        except OSError as exc:  # the count in memory still holds for this run
            logger.error("%s: cannot save today's token count (%s)", self.path, exc.strerror)


class Breaker:
    """``closed`` (requests go), ``open`` (none go, for ``cooldown_s``), ``half-open`` (one
    trial goes: success closes, failure opens again)."""

    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.failures, self.cooldown_s = failures, cooldown_s
        self.in_a_row = 0
        self.opened_at: float | None = None
        self._trial = False

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= self.cooldown_s else "open"

    def allow(self, now: float) -> bool:
        state = self.state(now)
        if state == "half-open" and not self._trial:
            self._trial = True
            return True
        return state == "closed"

    def success(self) -> None:
        self.in_a_row, self.opened_at, self._trial = 0, None, False

    def failure(self, now: float) -> bool:
        """Count a failed request; True when this one opened the circuit."""
        self.in_a_row += 1
        was_open = self.opened_at is not None
        if was_open or self.in_a_row >= self.failures:
            self.opened_at, self._trial = now, False
        return not was_open and self.opened_at is not None


class AnswerCache(Generic[T]):
    """At most ``size`` entries; the least recently used goes first (``size`` 0: none kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()

    def get(self, key: str) -> T | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        if self.size == 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
