"""MQTT sink: events through a durable spool, face states, stats, availability, discovery.

Threads and what each may block on:

* the caller (frame loop): ``emit``/``face_state``/``stats`` only serialise and hand off to
  bounded slots; they never touch the network or the disk.
* ``microemo-spool`` commits handed-off events to the SQLite spool (one commit per burst).
* ``microemo-mqtt`` connects (capped exponential back-off with jitter), publishes spooled
  events within an in-flight window, deletes them on PUBACK, publishes states and stats.
* paho's own network thread (``loop_start``) moves the bytes.

Loss policy. An event committed to the spool is published until the broker acknowledges it
(QoS 1), across reconnects, restarts and ``kill -9``; it may arrive twice (dedupe on
``id`` + ``phase`` + ``seq``). On ``kill -9`` only events still in the hand-off queue
(accepted by ``emit`` but not yet committed, normally none or one burst) are lost. When the
hand-off queue is full (disk stalled) ``emit`` drops the event and counts it
(``handoff_dropped``); when the spool is full the oldest are dropped and counted (``dropped``).
Face states and stats are latest-wins and are not spooled.

A disk that refuses writes (full, read-only) is a degraded state, not a failure: events are
kept in memory (``overflow``, at most ``spool.handoff``, the oldest dropped and counted past
that) and published from there while the broker is up; the writer tries the spool again
with each burst and every ``RETRY_S``. Each change of state is logged once. What is still
in memory at ``close()`` (neither committed nor acknowledged) is lost, and said so with its
count (``lost``).

After a crash. The spool also keeps, with each committed event, which episodes are open; a
run that starts after a ``kill -9`` gets their ``end`` from ``left_open()`` (marked
``ended_by: "restart"``), so a dashboard that saw an episode start sees it end once. Retained
face states of faces this run does not know are cleared when the broker delivers them, and
the device summary is published again at every connect.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from microemo.config import Config
from microemo.publish.events import CABIN_SCHEMA_ID, SCHEMA_ID, ended_by_restart, event_schema
from microemo.publish.mqtt import discovery
from microemo.publish.mqtt.client import MqttSettings, make_client
from microemo.publish.mqtt.link import Link
from microemo.publish.mqtt.overflow import Overflow, Row
from microemo.publish.mqtt.spool import Spool, SpoolSequenceStore, SpoolUnwritable
from microemo.publish.mqtt.topics import Topics
from microemo.publish.sequence import SequenceAllocator

logger = logging.getLogger(__name__)

CommandCallback = Callable[[str, bytes], None]
RETRY_S = 5.0  # while the spool cannot be written: how often to try again without new events


class MqttSink:
    """The ``Sink`` that publishes over MQTT; see the module docstring for the loss policy."""

    def __init__(self, topics: Topics, spool: Spool, settings: MqttSettings) -> None:
        self.topics = topics
        self.settings = settings
        self.spool = spool
        self._run_key = f"{int(time.time() * 1000):x}"
        self._handoff: queue.Queue[Row | None] = queue.Queue(settings.handoff)
        self.overflow = Overflow(settings.handoff)  # what the disk refused, in memory
        self.write_error: str | None = None  # why the spool cannot be written, if so
        self._memory_full = False  # and the oldest in memory are being dropped
        self._dropped_before = 0  # memory drops before the spool became unwritable
        self.lost = 0  # events in memory at close(): neither committed nor acknowledged
        self._restart_keys: dict[str, str] = {}  # episode id -> the dead run's ordering key
        schemas = (SCHEMA_ID, CABIN_SCHEMA_ID)
        self._event_keys = {name: frozenset(event_schema(name)["properties"]) for name in schemas}
        self._event_topics = {SCHEMA_ID: topics.events, CABIN_SCHEMA_ID: topics.cabin_events}
        self.handoff_dropped = 0
        self.rejected = 0
        self._closed = False
        self._link = Link(
            make_client(settings, topics), spool, topics, settings, self.overflow, self.figures
        )
        self.sequence = SequenceAllocator(SpoolSequenceStore(spool))  # seq beside the spool
        self._writer = threading.Thread(
            target=self._writer_main, name="microemo-spool", daemon=True
        )
        self._writer.start()
        self._link.start()

    @classmethod
    def from_config(cls, config: Config) -> MqttSink:
        """Open the spool (``spool.path`` or ``<state_dir>/spool.sqlite3``) and start."""
        path = config.spool.path or config.device.state_dir / "spool.sqlite3"
        s = config.spool
        spool = Spool(path, s.max_events, max_bytes=s.max_bytes, fsync=s.fsync)
        topics = Topics(config.mqtt.prefix, config.device.id, config.mqtt.discovery_prefix)
        settings = MqttSettings.from_config(
            config.mqtt,
            inflight=config.spool.inflight,
            handoff=config.spool.handoff,
            cabin=config.cabin.enabled,
        )
        return cls(topics, spool, settings)

    # -- Sink protocol (frame loop: never blocks) -----------------------------------------
    def emit(self, event: dict[str, Any]) -> None:
        """Hand ``event`` to the spool writer; counted and dropped if the hand-off is full."""
        if self._closed:
            raise RuntimeError("MqttSink.emit after close()")
        schema = str(event.get("schema"))
        keys = self._event_keys.get(schema)
        extra = event.keys() - keys if keys is not None else {"schema"}
        if extra:  # the schema forbids them; this also keeps landmarks and images home
            self.rejected += 1
            logger.error("event %s refused: fields not in the schema: %s", event.get("id"), extra)
            return
        key = self._restart_keys.pop(str(event.get("id")), None) if self._restart_keys else None
        key = key or f"{self._run_key}:{event.get('face_id')}"
        data = json.dumps(event, separators=(",", ":")).encode()
        mark = (str(event.get("id")), key, None if event.get("phase") == "end" else data)
        row = (key, self._event_topics[schema], data, mark)
        try:
            self._handoff.put_nowait(row)
        except queue.Full:
            self.handoff_dropped += 1
            if self.handoff_dropped == 1 or self.handoff_dropped % 1000 == 0:
                logger.error("spool writer behind: %d events dropped", self.handoff_dropped)

    def left_open(self) -> list[dict[str, Any]]:
        """The ``end`` of every episode that an earlier run started and never ended (it was
        killed, lost power or hung), numbered after everything that run sent. Emit them
        before any new event: each keeps the dead run's ordering key, so it goes out after
        that run's spooled events of its face, and committing it closes the episode here."""
        ends = []
        for episode, key, payload in self.spool.open_episodes():
            try:
                last = json.loads(payload)
            except ValueError:
                logger.error("spool %s: open episode %s unreadable", self.spool.path, episode)
                continue
            ends.append(ended_by_restart(last, self.sequence.next()))
            self._restart_keys[episode] = key
        if ends:
            logger.warning(
                "%d episodes were left open by the previous run (it did not stop cleanly); "
                "ending them now (ended_by restart)",
                len(ends),
            )
        return ends

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        """Latest-wins: published retained at most every ``state_interval_s``; None clears."""
        if state is not None:
            state = discovery.scrub(state, self.settings.share_landmarks)
        self._link.set_face_state(int(face_id), state)

    def stats(self, stats: dict[str, Any]) -> None:
        self._link.set_stats(dict(stats))

    def close(self, timeout: float = 5.0) -> None:
        """Commit what was handed off, publish what the broker takes within ``timeout``,
        send ``offline`` and disconnect. Unacknowledged events stay spooled for next time."""
        if self._closed:
            return
        self._closed = True
        self._handoff.put(None)
        self._writer.join()
        self._link.stop(timeout)
        self.sequence.close()
        self.spool.close()
        self.lost = len(self.overflow)
        if self.lost:
            logger.error(
                "stopping with %d events in memory that the disk refused (%s) and the broker "
                "has not acknowledged: they are lost (%d of them were sent and may have "
                "arrived; counted in stats spool.lost)",
                self.lost, self.write_error, self.overflow.out,
            )  # fmt: skip

    # -- for other components -------------------------------------------------------------
    def on_command(self, callback: CommandCallback) -> None:
        """Call ``callback(topic, payload)`` for each message under ``{base}/cmd/``; it runs
        on a dedicated thread, one message at a time (at most 32 waiting, more are dropped)."""
        self._link.commands.add(callback)

    def subscribe(self, topic_filter: str) -> bool:
        """Subscribe to more of the device's ``cmd/`` now (the broker re-sends what is retained
        there: chunks of an update announced after they arrived). Not renewed on reconnect."""
        if not self.topics.is_command(topic_filter):
            raise ValueError(f"{topic_filter!r}: only topics under {self.topics.cmd_filter}")
        return self._link.subscribe(topic_filter)

    def publish_status(self, topic_suffix: str, payload: Any, retain: bool = True) -> bool:
        """Publish on ``{prefix}/{device}/{topic_suffix}`` (QoS 1). Retained statuses are
        remembered and published again on every connect; others are lost while offline.
        Returns whether it was handed to a connected client."""
        topic = self.topics.status(topic_suffix)
        if isinstance(payload, (dict, list)):
            data = json.dumps(payload, separators=(",", ":")).encode()
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = bytes(payload)
        return self._link.publish_status(topic, data, retain)

    def retire(self, timeout: float = 5.0) -> bool:
        """Remove this device from Home Assistant: empty retained discovery configs, summary
        and face states. Returns True when the broker acknowledged every removal."""
        return self._link.retire(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event handed to ``emit`` so far is committed to the spool."""
        end = time.monotonic() + timeout
        while self._handoff.unfinished_tasks:
            if time.monotonic() > end:
                return False
            time.sleep(0.002)
        return True

    def wait_connected(self, timeout: float) -> bool:
        return self._link.connected_event.wait(timeout)

    def health(self) -> dict[str, Any]:
        return {
            "connected": self._link.connected,
            "spool_depth": self.spool.depth,
            "dropped": self.spool.dropped + self.overflow.unsaved_drops,
            "handoff_dropped": self.handoff_dropped,
            "handoff_waiting": self._handoff.qsize(),
            "rejected": self.rejected,
            "published": self._link.published,
            "acked": self._link.acked,
            "in_flight": self._link.in_flight,
            "connect_attempts": self._link.attempts,
            "last_error": self._link.last_error,
            "writable": self.write_error is None,
            "in_memory": len(self.overflow),
            "lost": self.lost,
        }

    def figures(self) -> dict[str, Any]:
        """The spool's part of ``stats`` (and of the daemon's snapshot)."""
        return {
            "depth": self.spool.depth,
            "bytes": self.spool.nbytes,
            "dropped": self.spool.dropped + self.overflow.unsaved_drops,
            "handoff_dropped": self.handoff_dropped,
            "in_flight": self._link.in_flight,
            "published": self._link.published,
            "acked": self._link.acked,
            "writable": self.write_error is None,
            "in_memory": len(self.overflow),
            "lost": self.lost,
        }

    # -- spool writer thread ----------------------------------------------------------------
    def _writer_main(self) -> None:
        stop = False
        while not stop:
            batch = self._next_batch()
            stop = None in batch
            self._commit([r for r in batch if r is not None])
            for _ in batch:
                self._handoff.task_done()
            self._link.wake()

    def _next_batch(self) -> list[Row | None]:
        """The next burst from ``emit``; empty after ``RETRY_S`` when rows wait in memory."""
        try:
            batch = [self._handoff.get(timeout=RETRY_S if len(self.overflow) else None)]
        except queue.Empty:
            return []
        while len(batch) < 512:
            try:
                batch.append(self._handoff.get_nowait())
            except queue.Empty:
                break
        return batch

    def _commit(self, rows: list[Row]) -> None:
        """Commit what the disk refused before (oldest first), then ``rows``; if the disk
        refuses again, keep them all in memory (``overflow``)."""
        held = self.overflow.unsent()
        todo = [row for _, row in held] + rows
        if not todo:
            return
        drops = self.overflow.unsaved_drops
        try:
            self.spool.append(
                [r[:3] for r in todo], self._link.busy_rowids, [r[3] for r in todo], drops
            )
        except Exception as exc:  # SpoolUnwritable; anything else is a bug: same care
            self.overflow.restore(held)
            before = self.overflow.dropped
            self.overflow.add(rows)
            self._unwritable(exc, before)
            return
        self.overflow.saved(drops)
        if self.write_error is not None:
            logger.warning(
                "spool %s writable again: %d events kept in memory committed, %d dropped "
                "while it was not (counted in spool.dropped)",
                self.spool.path, len(held), self.overflow.dropped - self._dropped_before,
            )  # fmt: skip
            self.write_error, self._memory_full = None, False

    def _unwritable(self, exc: Exception, dropped_before: int) -> None:
        """Log each change of the degraded state once: refused, then memory full."""
        reason = exc.reason if isinstance(exc, SpoolUnwritable) else f"unexpected: {exc!r}"
        if reason != self.write_error:
            logger.error(
                "spool %s cannot be written (%s): events go on being made and are published "
                "from memory while the broker is up; up to %d wait in memory, then the "
                "oldest are dropped and counted (stats spool.dropped); free space in %s",
                self.spool.path, reason, self.overflow.limit, self.spool.path.parent,
                exc_info=not isinstance(exc, SpoolUnwritable),
            )  # fmt: skip
            if self.write_error is None:
                self._dropped_before = dropped_before
            self.write_error = reason
        full = self.overflow.dropped > dropped_before
        if full and not self._memory_full:
            logger.error(
                "%d events wait in memory, the most it keeps: the oldest are dropped from now "
                "on while the disk refuses writes (counted in stats spool.dropped)",
                self.overflow.limit,
            )
        self._memory_full = full
