"""The MQTT side of ``microemo-reason``: device events in, refined readings out.

Subscribes to ``{prefix}/+/events`` (or the listed devices') at QoS 1 with a persistent
session (``mqtt.client_id``): end events that arrive while the service is away wait at the
broker. paho's network thread only reads the event and picks the hard cases; one worker
thread asks the model, so a slow endpoint never holds the connection up. Cases waiting for
the model are bounded (``limits.queue``): when full the oldest is dropped, counted and logged.
The status (retained, ``{prefix}/reason/status``) says whether it is asking, out of budget
or facing a dead endpoint, with the day's tokens and every count; the last will says
``offline``. ``--dry-run`` uses a throw-away session and publishes nothing at all.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt

from microemo.publish.events import utc_now
from microemo.publish.mqtt import topics
from microemo.publish.mqtt.client import MqttSettings, disconnect_reason, set_tls
from microemo.reason.config import ReasonConfig
from microemo.reason.engine import Case, Reasoner
from microemo.reason.episode import NotACase, read_end_event
from microemo.secrets import mqtt_password, redact_url

logger = logging.getLogger(__name__)

OUTGOING_MAX = 1000  # refined readings held by paho while the broker is away


def broker_settings(config: ReasonConfig, client_id: str) -> MqttSettings:
    m = config.mqtt
    return MqttSettings(
        host=m.host,
        port=m.port,
        username=m.username,
        password=mqtt_password(),
        tls=m.tls,
        ca_file=m.ca_file,
        cert_file=m.cert_file,
        key_file=m.key_file,
        keepalive_s=m.keepalive_s,
        client_id=client_id,
        reconnect_min_s=m.reconnect_min_s,
        reconnect_max_s=m.reconnect_max_s,
    )


class ReasonService:
    def __init__(self, config: ReasonConfig, reasoner: Reasoner) -> None:
        self.config, self.reasoner = config, reasoner
        self.dry_run = reasoner.client is None
        self.prefix = config.mqtt.prefix.rstrip("/")
        self.status_topic = topics.reason_status(self.prefix)
        self.stop_event = threading.Event()
        self._cases: deque[Case] = deque()
        self._ready = threading.Condition()
        self._warned: set[str] = set()
        self._unreachable = False
        cid = config.mqtt.client_id + (f"-dry-run-{os.getpid()}" if self.dry_run else "")
        self.settings = broker_settings(config, cid)
        self.client = self._make_client()
        self._worker = threading.Thread(target=self._work, name="reason-worker", daemon=True)
        reasoner.on_state = self._state_changed

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id, clean_session=self.dry_run
        )
        if s.username:
            client.username_pw_set(s.username, s.password)
        if not self.dry_run:
            will = json.dumps({"state": "offline", "detail": "connection lost"})
            client.will_set(self.status_topic, will, qos=1, retain=True)
        if s.tls:
            set_tls(client, s)  # MqttError names a missing or bad PEM file
        # paho waits whole seconds between tries (doubling up to the longest)
        first = max(1, round(s.reconnect_min_s))
        client.reconnect_delay_set(first, max(first, round(s.reconnect_max_s)))
        client.max_queued_messages_set(OUTGOING_MAX)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        s = self.settings
        self.client.connect_async(s.host, s.port, s.keepalive_s)
        self.client.loop_start()
        self._worker.start()

    def stop(self) -> None:
        """Finish the request in flight, drop (and count) the cases still waiting, say
        ``offline`` and disconnect."""
        self.stop_event.set()
        with self._ready:
            self._ready.notify_all()
        self._worker.join(self.config.llm.timeout_s * (self.config.llm.max_retries + 1) + 10)
        with self._ready:
            for _ in self._cases:
                self.reasoner.count("dropped_at_stop")
            self._cases.clear()
        if not self.dry_run and self.client.is_connected():
            info = self.publish_status(state="offline", detail="stopped")
            if info is not None:
                info.wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()

    # -- paho's thread: read, pick, queue -----------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self._unreachable = False
        if rc.is_failure:
            logger.error(
                "broker %s:%s refused the connection (%s): check mqtt.username and "
                "the mqtt_password credential",
                self.settings.host,
                self.settings.port,
                rc,
            )
            return
        devices = self.config.mqtt.devices or ["+"]
        client.subscribe([(topics.events_filter(self.prefix, d), 1) for d in devices])
        logger.info(
            "connected to %s:%s, reading %s",
            self.settings.host,
            self.settings.port,
            ", ".join(topics.events_filter(self.prefix, d) for d in devices),
        )
        self.publish_status()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        """Said once per outage (paho keeps trying with back-off)."""
        if not self._unreachable:
            self._unreachable = True
            logger.warning(
                "cannot reach the broker at %s:%s: check mqtt.host and mqtt.port (retrying)",
                self.settings.host,
                self.settings.port,
            )

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not self.stop_event.is_set():
            logger.warning(
                "broker connection lost: %s; reconnecting",
                disconnect_reason(flags, rc, self.settings.keepalive_s),
            )

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        parsed = topics.parse(self.prefix, msg.topic)
        if parsed is None or parsed[1] != topics.EVENTS:
            return
        device = parsed[0]
        try:
            episode = read_end_event(bytes(msg.payload))
        except NotACase as exc:
            self.reasoner.count("not_events")
            self._warn_once(device, f"{msg.topic}: skipped, {exc}")
            return
        if episode is None:
            return
        if episode.device_id != device:
            self.reasoner.count("not_events")
            self._warn_once(
                device, f"{msg.topic}: skipped, the event names device {episode.device_id!r}"
            )
            return
        case = self.reasoner.consider(episode)
        if case is not None:
            self._enqueue(case)

    def _warn_once(self, device: str, text: str) -> None:
        """A device that publishes what is not an event is named once, not per message."""
        if device not in self._warned:
            self._warned.add(device)
            logger.warning("%s (further ones from %s are only counted)", text, device)

    def _enqueue(self, case: Case) -> None:
        with self._ready:
            if len(self._cases) >= self.config.limits.queue:
                old = self._cases.popleft()
                self.reasoner.count("dropped_queue_full")
                logger.warning(
                    "episode %s dropped: %d cases already wait for the model (limits.queue)",
                    old.episode.id,
                    len(self._cases) + 1,
                )
            self._cases.append(case)
            self._ready.notify()

    # -- the worker: ask, publish ---------------------------------------------------------

    def _work(self) -> None:
        """Ask about one case at a time; the status goes out every ``status_interval_s``,
        busy or idle."""
        interval = self.config.service.status_interval_s
        due = time.monotonic() + interval
        while not self.stop_event.is_set():
            with self._ready:
                if not self._cases:
                    self._ready.wait(max(0.0, due - time.monotonic()))
                case = self._cases.popleft() if self._cases else None
            if time.monotonic() >= due:
                self.reasoner.refresh()
                self.publish_status()
                due = time.monotonic() + interval
            if case is None:
                continue
            try:
                payload = self.reasoner.answer(case, self.stop_event)
            except Exception:  # a bug must not end the service's only worker
                logger.exception("episode %s: unexpected failure", case.episode.id)
                self.reasoner.count("failed")
                continue
            if payload is not None:
                self._publish_refined(case, payload)

    def _publish_refined(self, case: Case, payload: dict[str, Any]) -> None:
        topic = topics.Topics(self.prefix, case.episode.device_id).refined
        info = self.client.publish(topic, json.dumps(payload), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            self.reasoner.count("refined_lost")
            logger.error(
                "episode %s: refined reading not published (%s)",
                case.episode.id,
                mqtt.error_string(info.rc),
            )

    def status(self, state: str | None = None, detail: str | None = None) -> dict[str, Any]:
        snap = self.reasoner.snapshot()
        with self._ready:
            waiting = len(self._cases)
        return {
            "state": state or snap["state"],
            "detail": snap["detail"] if detail is None else detail,
            "time": utc_now(),
            "model": self.config.llm.model,
            "endpoint": redact_url(self.config.llm.base_url),
            "waiting": waiting,
            **{k: snap[k] for k in ("tokens_today", "daily_tokens", "breaker", "counts")},
        }

    def _state_changed(self) -> None:
        self.publish_status()

    def publish_status(
        self, state: str | None = None, detail: str | None = None
    ) -> mqtt.MQTTMessageInfo | None:
        """The retained status (nothing in a dry run); also logged when the state changes."""
        if self.dry_run:
            return None
        return self.client.publish(
            self.status_topic, json.dumps(self.status(state, detail)), qos=1, retain=True
        )
