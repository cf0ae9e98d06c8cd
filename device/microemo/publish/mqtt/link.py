"""The MQTT link thread of ``MqttSink``: connection, back-off, the spool drain, states.

paho callbacks run on paho's network thread and only append to deques and set events;
everything else happens on the ``microemo-mqtt`` thread, so no lock is ever held while
calling into paho from a callback (paho holds its own message lock around ``on_publish``).
The link is given what it works on (client, spool, the rows the disk refused, topics,
settings, the spool's figures); it never sees the sink.

Every state of the connection an operator must know is logged once per change (``_problem``):
refused (nothing listens), a TLS or protocol mismatch, no answer within the keep-alive,
credentials refused, the broker lost; and ``connected again`` when it is back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from microemo.clock import clock_synced
from microemo.publish.mqtt import discovery
from microemo.publish.mqtt.client import (
    MqttSettings,
    backoff_s,
    connect_problem,
    disconnect_reason,
    refusal,
    unanswered,
)
from microemo.publish.mqtt.dispatch import CommandDispatcher
from microemo.publish.mqtt.overflow import Overflow
from microemo.publish.mqtt.spool import Drain, Spool, SpoolUnwritable
from microemo.publish.mqtt.states import FaceStates
from microemo.publish.mqtt.topics import Topics

logger = logging.getLogger(__name__)

# Acknowledged rows are deleted at most this often (or once 64 wait): one commit for a burst
# of PUBACKs instead of one each, about a third less written to the card; a crash in
# between sends them again (a duplicate, never a loss).
DELETE_EVERY_S = 2.0


def cpu_temperature_c() -> float | None:
    """The first thermal zone (Raspberry Pi, Jetson, most x86 laptops), None when absent."""
    try:
        raw = Path("/sys/class/thermal/thermal_zone0/temp").read_text()
        return round(int(raw) / 1000.0, 1)
    except (OSError, ValueError):
        return None


class Link:
    """``overflow``: events the disk refused, published once the spool is drained;
    ``figures``: the spool's part of the stats (``MqttSink.figures``)."""

    def __init__(
        self,
        client: mqtt.Client,
        spool: Spool,
        topics: Topics,
        settings: MqttSettings,
        overflow: Overflow,
        figures: Callable[[], dict[str, Any]],
    ) -> None:
        self.client = client
        self.spool = spool
        self.drain = Drain(spool)
        self.overflow = overflow
        self.topics = topics
        self.settings = settings
        self._figures = figures
        self._undeleted: list[int] = []  # acknowledged rows the disk would not delete yet
        self._delete_at = 0.0  # when acknowledged rows may be deleted next
        self.connected = False
        self.connected_event = threading.Event()
        self.published = 0
        self.acked = 0
        self.attempts = 0
        self.last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._signals: deque[tuple[str, Any]] = deque()
        self._acks: deque[int] = deque()
        self._inflight: dict[int, int] = {}  # mid -> spool rowid
        self._inflight_lock = threading.Lock()
        self._loop_running = False
        self._attempt = 0
        self._next_try = 0.0
        self.states = FaceStates(settings.state_interval_s)
        self._connect_started = 0.0
        self._stats: dict[str, Any] | None = None
        self._statuses: dict[str, bytes] = {}
        self.commands = CommandDispatcher()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._thread = threading.Thread(target=self._main, name="microemo-mqtt", daemon=True)

    # -- API used by MqttSink -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def busy_rowids(self) -> frozenset[int]:
        """Rows not to choose or trim: in flight, or acknowledged and not deleted yet."""
        with self._inflight_lock:
            return frozenset(self._inflight.values()).union(self._undeleted)

    def set_face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        self.states.set(face_id, state)
        self._wake.set()

    def set_stats(self, stats: dict[str, Any]) -> None:
        self._stats = stats
        self._wake.set()

    def publish_status(self, topic: str, data: bytes, retain: bool) -> bool:
        if retain:
            self._statuses[topic] = data
        if not self.connected:
            return False
        return self.client.publish(topic, data, qos=1, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    def subscribe(self, topic_filter: str) -> bool:
        """Subscribe (QoS 1) now, e.g. to have the broker send retained messages again; not
        renewed after a reconnect. False when not connected."""
        if not self.connected:
            return False
        return self.client.subscribe(topic_filter, qos=1)[0] == mqtt.MQTT_ERR_SUCCESS

    def retire(self, timeout: float) -> bool:
        if not self.connected_event.wait(timeout):
            logger.error("retire: not connected to the broker; nothing removed")
            return False
        topics = [*discovery.discovery_configs(self.topics), self.topics.state]
        topics += [self.topics.face_state(f) for f in set(self.states.retained)]
        infos = [self.client.publish(t, b"", qos=1, retain=True) for t in topics]
        end = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.0, end - time.monotonic()))
        ok = all(info.is_published() for info in infos)
        logger.info(
            "retired %s from Home Assistant (%d topics cleared)", self.topics.base, len(topics)
        )
        return ok

    # -- paho callbacks (network thread) --------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            self._signals.append(("refused", rc))
        else:
            client.subscribe(self.topics.cmd_filter, qos=1)
            client.subscribe(self.topics.face_state_filter, qos=0)
            client.publish(self.topics.availability, "online", qos=1, retain=True)
            self._signals.append(("up", rc))
        self._wake.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        self._signals.append(("down", (flags, rc, self.settings.keepalive_s)))
        self._wake.set()

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any
    ) -> None:
        self._acks.append(mid)
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.topics.is_command(msg.topic):
            self.commands.offer(msg.topic, bytes(msg.payload))
        elif msg.retain and msg.payload:  # a retained face state, maybe left by a crash
            self._signals.append(("stale_face", msg.topic))
            self._wake.set()

    # -- link thread ------------------------------------------------------------------------
    def _main(self) -> None:
        while True:
            self._wake.wait(0.2)
            self._wake.clear()
            self._handle_signals()
            self._handle_acks()
            stopping = self._stop.is_set()
            if stopping and (
                not self.connected or self._idle() or time.monotonic() > self._deadline
            ):
                break
            if self.connected:
                self._pump()
                self._publish_states()
                self._publish_stats()
            elif not self._loop_running and time.monotonic() >= self._next_try:
                self._connect()
            elif self._loop_running and time.monotonic() - self._connect_started > self._patience:
                self._link_down()  # no CONNACK and no disconnect callback: start over
                where = f"{self.settings.host}:{self.settings.port}"
                self._problem(f"no answer from MQTT broker {where}", logging.WARNING)
                self._schedule_retry()
        self._shutdown()

    @property
    def _patience(self) -> float:
        return 10.0 + 1.5 * self.settings.keepalive_s

    def _idle(self) -> bool:
        waiting = self.spool.depth - len(self._undeleted) + len(self.overflow)
        return not self._inflight and waiting == 0

    def _problem(self, message: str, level: int = logging.ERROR) -> None:
        """Log a connection problem once; repeats of the same problem go to debug."""
        if message != self.last_error:
            logger.log(level, "%s; retrying with back-off up to %g s", message,
                       self.settings.reconnect_max_s)  # fmt: skip
            self.last_error = message
        else:
            logger.debug("%s (again)", message)

    def _schedule_retry(self) -> None:
        s = self.settings
        self._next_try = time.monotonic() + backoff_s(
            self._attempt, s.reconnect_min_s, s.reconnect_max_s
        )
        self._attempt += 1

    def _connect(self) -> None:
        s = self.settings
        self.attempts += 1
        try:
            self.client.connect(s.host, s.port, s.keepalive_s)
        except OSError as exc:  # ssl.SSLError included
            self._problem(*connect_problem(exc, s))
        else:
            self._connect_started = time.monotonic()
            self.client.loop_start()
            self._loop_running = True
            return
        self._schedule_retry()

    def _link_down(self) -> None:
        if self._loop_running:
            self.client.loop_stop()
            self._loop_running = False
        self.connected = False
        self.connected_event.clear()

    def _handle_signals(self) -> None:
        while self._signals:
            kind, arg = self._signals.popleft()
            if kind == "up":
                self._up()
            elif kind == "refused":
                self._link_down()
                self._problem(refusal(arg, self.settings))
                self._schedule_retry()
            elif kind == "down" and self._loop_running:
                was_up = self.connected
                self._link_down()
                if was_up:
                    self._problem(f"lost the MQTT broker: {disconnect_reason(*arg)}; events "
                                  "wait in the spool", logging.WARNING)  # fmt: skip
                else:  # before any CONNACK: a wrong port, TLS, or no broker at all
                    self._problem(unanswered(arg[1].getName(), self.settings))
                self._schedule_retry()
            elif kind == "stale_face":
                self._clear_stale(arg)

    def _up(self) -> None:
        if self.last_error is not None or self._attempt:
            logger.warning(
                "MQTT broker %s:%d connected again", self.settings.host, self.settings.port
            )
        else:
            logger.info("connected to MQTT broker %s:%d", self.settings.host, self.settings.port)
        self.drain.reset()
        self.connected = True
        self.connected_event.set()
        self.last_error = None
        self._attempt = 0
        if self.settings.discovery:
            active = discovery.discovery_configs(self.topics, cabin=self.settings.cabin)
            for topic in discovery.discovery_configs(self.topics):  # cabin off: its entities go
                payload = discovery.encode(active[topic]) if topic in active else b""
                self.client.publish(topic, payload, qos=1, retain=True)
        for topic, data in self._statuses.items():
            self.client.publish(topic, data, qos=1, retain=True)
        self.states.resend_all()

    def _handle_acks(self, flush: bool = False) -> None:
        rowids = []
        with self._inflight_lock:
            while self._acks:
                rowid = self._inflight.pop(self._acks.popleft(), None)
                if rowid is not None:
                    rowids.append(rowid)
            self._undeleted += [r for r in rowids if r > 0]
            pending = list(self._undeleted)
        self.acked += len(rowids)
        for rowid in rowids:
            if rowid < 0:
                self.overflow.ack(rowid)
        now = time.monotonic()
        if not pending or (not flush and now < self._delete_at and len(pending) < 64):
            return
        try:
            self.spool.delete(pending)
        except SpoolUnwritable:  # the disk is full: kept (and not sent again) until it is not
            self._delete_at = now + 5.0
            return
        with self._inflight_lock:
            self._undeleted = self._undeleted[len(pending) :]
        self._delete_at = now + DELETE_EVERY_S

    def _pump(self) -> None:
        room = self.settings.inflight - len(self._inflight)
        chosen = self.drain.select(room, self.busy_rowids())
        if len(chosen) < room and len(self.overflow):  # the spool is drained: memory next
            chosen += self.overflow.take(room - len(chosen))
        for ev in chosen:
            info = self.client.publish(ev.topic, ev.payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                for rest in chosen[chosen.index(ev) :]:
                    (self.overflow.returned if rest.rowid < 0 else self.drain.unsent)(rest.rowid)
                break
            with self._inflight_lock:  # NO_CONN: paho keeps it and sends it on reconnect
                self._inflight[info.mid] = ev.rowid
            self.published += 1

    def _publish_states(self) -> None:
        for face_id, state in self.states.due():
            payload = b"" if state is None else json.dumps(state).encode()
            self.client.publish(self.topics.face_state(face_id), payload, qos=0, retain=True)
        spool = self._figures()
        self.states.set_device({
            "clock_synced": clock_synced(),
            "spool_writable": spool["writable"],
            "events_lost": spool["dropped"] + spool["handoff_dropped"] + spool["lost"],
        })  # fmt: skip
        summary = self.states.summary_due()
        if summary is not None:
            self.client.publish(self.topics.state, json.dumps(summary).encode(), qos=0, retain=True)

    def _clear_stale(self, topic: str) -> None:
        """A retained state of a face this run does not know (a crash left it): clear it."""
        face = self.topics.face_of_state(topic)
        if face is None:
            return
        if face not in self.states.current and not self.states.is_pending(face):
            self.client.publish(topic, b"", qos=0, retain=True)

    def _publish_stats(self) -> None:
        stats, self._stats = self._stats, None
        if stats is None:
            return
        stats["spool"] = self._figures()
        if "temperature_c" not in stats:
            stats["temperature_c"] = cpu_temperature_c()
        self.client.publish(self.topics.stats, json.dumps(stats, default=str).encode(), qos=0)

    def _shutdown(self) -> None:
        self._handle_acks(flush=True)
        if self.connected:
            info = self.client.publish(self.topics.availability, "offline", qos=1, retain=True)
            info.wait_for_publish(max(0.5, self._deadline - time.monotonic()))
            self.client.disconnect()
        if self._loop_running:
            self.client.loop_stop()
            self._loop_running = False
        self.connected = False
        self.connected_event.clear()
        waiting = self.spool.depth - len(self._undeleted)
        if waiting:
            logger.info("%d events stay in the spool for the next start", waiting)
