"""Hard cases in, refined readings out: the second opinion without the transport.

``consider`` (cheap, in the order events arrive) picks the hard cases and writes each as a
request; ``answer`` (slow, one at a time) goes through the cache, the daily budget, the
circuit breaker and the rate limit, asks the endpoint and validates the answer. The MQTT
service and ``replay`` (event files) both drive it. Each case's fate is counted and every
refusal is logged once with the episode id and the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, TextIO

from microemo.reason.answer import Answer, AnswerRejected, parse_answer
from microemo.reason.case import FaceHistory, case_text
from microemo.reason.config import ReasonConfig
from microemo.reason.episode import Episode
from microemo.reason.guard import AnswerCache, Breaker, DailyBudget, RateLimit
from microemo.reason.llm import EndpointError, LlmClient, Reply, estimate_tokens
from microemo.reason.prompt import request_body
from microemo.reason.refined import refined_payload
from microemo.reason.select import hard_because
from microemo.secrets import redact_url

logger = logging.getLogger(__name__)

# what ``state`` may be, for the status topic
ASKING, BUDGET_SPENT, ENDPOINT_DOWN, DRY_RUN = "asking", "budget_spent", "endpoint_down", "dry_run"
BUDGET_FILE = "tokens-today.json"
SEEN_MAX = 10_000  # episode ids remembered to drop a redelivered end event


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass(frozen=True)
class Case:
    episode: Episode
    why: list[str]
    body: dict[str, Any]  # the request, exactly as it would leave
    key: str  # identical requests share it (the cache's key)


class Reasoner:
    def __init__(
        self,
        config: ReasonConfig,
        client: LlmClient | None,
        dry_run_out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = utc_today,
    ) -> None:
        """``client`` None is a dry run: each request is printed to ``dry_run_out``
        (stdout by default) instead of sent; nothing is spent or published."""
        self.config, self.client = config, client
        self.dry_run_out = dry_run_out or sys.stdout
        self.clock, self.today = clock, today
        limits = config.limits
        self.history = FaceHistory(config.context)
        self.rate = RateLimit(limits.requests_per_minute)
        budget_path = config.service.state_dir / BUDGET_FILE if client is not None else None
        self.budget = DailyBudget(limits.daily_tokens, budget_path)
        self.breaker = Breaker(limits.breaker_failures, limits.breaker_cooldown_s)
        self.cache: AnswerCache[tuple[Answer, Reply]] = AnswerCache(limits.cache_size)
        self.counts: Counter[str] = Counter()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.state = ASKING if client is not None else DRY_RUN
        self.detail = ""
        self.on_state: Callable[[], None] = lambda: None

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.counts)
        return {
            "state": self.state,
            "detail": self.detail,
            "counts": counts,
            "tokens_today": self.budget.spent(self.today()),
            "daily_tokens": self.budget.limit,
            "breaker": self.breaker.state(self.clock()),
        }

    def _set_state(self, state: str, detail: str = "") -> None:
        if (state, detail) != (self.state, self.detail):
            self.state, self.detail = state, detail
            logger.warning("now %s%s", state, f": {detail}" if detail else "")
            self.on_state()

    def refresh(self) -> None:
        """A spent budget lifts at 00:00 UTC, also when no case comes to notice it."""
        if self.state == BUDGET_SPENT and self.budget.spent(self.today()) == 0:
            self._set_state(ASKING)

    def consider(self, episode: Episode) -> Case | None:
        """The request for ``episode`` if it is a hard case, else None (left alone)."""
        self.count("end_events")
        if episode.id in self._seen:  # delivered again (QoS 1 is at least once)
            self.count("duplicate")
            return None
        self._seen[episode.id] = None
        if len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        earlier = self.history.before(episode)
        self.history.remember(episode)
        why = hard_because(episode, self.config.select)
        if not why:
            self.count("easy")
            return None
        self.count("hard")
        body = request_body(self.config.llm, case_text(episode, earlier))
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return Case(episode, why, body, key)

    def answer(self, case: Case, stop: threading.Event | None = None) -> dict[str, Any] | None:
        """The refined payload for ``case``, or None when it was not asked or not answered
        usably (the reason is logged and counted). Waits for the rate limit (``stop`` ends
        the wait); never raises for the endpoint's faults."""
        hit = self.cache.get(case.key)
        if hit is not None:
            self.count("cached")
            return refined_payload(case.episode, case.why, hit[0], hit[1], cached=True)
        if self.client is None:
            self._print_request(case)
            return None
        if not self._may_ask(case):
            return None
        if not self._wait_turn(stop or threading.Event()):
            self.count("dropped_at_stop")
            return None
        reply = self._ask(case, self.client)
        return None if reply is None else self._use(case, reply)

    def _may_ask(self, case: Case) -> bool:
        worst = estimate_tokens(json.dumps(case.body)) + self.config.llm.max_tokens
        if not self.budget.allows(self.today(), worst):
            self.count("skipped_budget")
            self._set_state(
                BUDGET_SPENT,
                f"daily token budget of {self.budget.limit} spent "
                f"({self.budget.tokens} used): no requests until 00:00 UTC",
            )
            return False
        if self.state == BUDGET_SPENT:  # a new day
            self._set_state(ASKING)
        if not self.breaker.allow(self.clock()):
            self.count("skipped_endpoint_down")
            return False
        return True

    def _wait_turn(self, stop: threading.Event) -> bool:
        while (wait := self.rate.wait_s(self.clock())) > 0:
            if stop.wait(wait):
                return False
        self.rate.take(self.clock())
        return True

    def _ask(self, case: Case, client: LlmClient) -> Reply | None:
        self.count("asked")
        try:
            reply = client.ask(case.body)
        except EndpointError as exc:
            self.count("failed")
            logger.warning("episode %s: request failed: %s", case.episode.id, exc)
            if self.breaker.failure(self.clock()):
                cool = self.config.limits.breaker_cooldown_s
                logger.error(
                    "endpoint %s down: no requests for %g s, then one trial",
                    redact_url(self.config.llm.base_url),
                    cool,
                )
                self._set_state(ENDPOINT_DOWN, str(exc))
            return None
        self.breaker.success()
        if self.state == ENDPOINT_DOWN:
            logger.info("endpoint answers again")
            self._set_state(ASKING)
        self.budget.add(self.today(), reply.prompt_tokens + reply.completion_tokens)
        return reply

    def _use(self, case: Case, reply: Reply) -> dict[str, Any] | None:
        try:
            if reply.refusal:
                raise AnswerRejected(f"the model refused: {reply.refusal[:120]}")
            answer = parse_answer(reply.text)
        except AnswerRejected as exc:
            self.count("rejected")
            logger.warning("episode %s: answer dropped: %s", case.episode.id, exc)
            return None
        self.cache.put(case.key, (answer, reply))
        self.count("refined")
        return refined_payload(case.episode, case.why, answer, reply, cached=False)

    def _print_request(self, case: Case) -> None:
        self.count("dry_run")
        url = self.config.llm.base_url.rstrip("/") + "/chat/completions"
        line = {
            "episode_id": case.episode.id,
            "hard_because": case.why,
            "post": redact_url(url),
            "body": case.body,
        }
        print(json.dumps(line), file=self.dry_run_out, flush=True)
