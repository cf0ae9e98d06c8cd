"""Signed model-update commands from MQTT, handled off the frame loop.

A command arrives on the device's command topic as JSON (``command_topic``, which the
daemon takes from ``publish.mqtt.topics``: ``{prefix}/{device}/cmd/model``)::

    {"type": "update" | "rollback", "name": ..., "version": ...,
     "sha256": "<sha256 of the bundle archive (.tar.gz or .tar)>",
     "url": "https://host/bundle.tar.gz"            # or, for broker-only devices:
     "chunks": {"topic": "<prefix>/<device>/cmd/model/chunks/<sha8>", "count": N},
     "allow_downgrade": false, "issued": "2026-01-01T00:00:00Z", "signature": "<base64>"}

``signature`` is ed25519 by a key in ``model.public_keys`` over ``canonical_message`` of all
other fields (``model.commands``). The archive holds the bundle's files at its top level
(``microemo-train update-msg`` makes both). The sha256 pins the archive bytes before anything
is unpacked; the bundle's own manifest signature and hashes are then checked again by the
store.

Commands are queued (bounded) and run on one worker thread, never in the frame loop; each
step is logged and reported through ``publish_status`` (retained ``model/status``): every
command gets a status, except a command already handled delivered again (a retained command
at each reconnect), which is not judged again (not even its age: the clock may have moved)
and whose outcome is on the topic already. Refused (``refused``, for good), failed for a
reason that may pass (``failed`` with ``retry``: a download or chunks that did not arrive,
or a time check failed by this device's unsynchronised clock; the same command is tried
again when it is delivered again), or not newer than
the last one handled (``ignored``). An empty payload clears a retained command and is no
command. On success ``on_switch(bundle)`` (the daemon's ``pipeline.swap_model``) makes the
new model live at the next window; if it raises, the store rolls back and the old bundle is
switched in again.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from microemo.clock import clock_synced
from microemo.config import Config
from microemo.model.archive import DownloadError, download, unpack
from microemo.model.bundle import Bundle, BundleError, read_manifest
from microemo.model.chunks import ChunkCollector
from microemo.model.commands import (
    ClockError,
    Command,
    CommandError,
    HandledLog,
    check_issued,
    digest,
    excerpt,
    parse_payload,
    typed,
    unverified_summary,
    verify_message,
)
from microemo.model.store import ModelStore
from microemo.secrets import redact_url

logger = logging.getLogger(__name__)

QUEUE_SIZE = 4


class UpdateManager:
    """Applies signed update and roll-back commands on its own thread."""

    def __init__(
        self,
        config: Config,
        store: ModelStore,
        on_switch: Callable[[Bundle], None],
        publish_status: Callable[[dict[str, Any]], object] | None = None,
        *,
        command_topic: str,
        subscribe: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.command_topic = command_topic.rstrip("/")
        self.cmd_prefix = self.command_topic.rpartition("/")[0] + "/"
        self.store = store
        self.on_switch = on_switch
        self.publish_status = publish_status
        self.subscribe = subscribe
        self.clock = clock
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self.chunks = ChunkCollector(config.model.max_bundle_bytes)
        self._cond = threading.Condition()
        self._pending = 0  # commands queued or running: counted from submit to done
        self._thread: threading.Thread | None = None
        self.handled = HandledLog(store.root / "last_command.json")
        self.last_status: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> UpdateManager:
        self._thread = threading.Thread(target=self._work, name="model-updates", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once no command is queued or running (for tests and orderly shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    # -- input (MQTT callback thread: fast, never blocks) -------------------------------------

    def handle_message(self, topic: str, payload: bytes) -> None:
        """``MqttSink.on_command`` callback: commands (on ``command_topic``) are queued; any
        other topic is a chunk of an announced update or is not kept (``ChunkCollector``)."""
        if topic.rstrip("/") != self.command_topic:
            self.chunks.offer(topic, payload)
            return
        try:
            msg = parse_payload(payload)
        except CommandError as exc:
            self._report("refused", ok=False, reason=str(exc))
            return
        if msg is None:
            logger.info("model updates: the retained command on %s was cleared", topic)
            return
        self.submit(msg)

    def submit(self, msg: dict[str, Any]) -> bool:
        with self._cond:
            try:
                self._queue.put_nowait(msg)
                self._pending += 1
            except queue.Full:
                busy = f"{QUEUE_SIZE} commands are waiting already; send it again later"
                self._report("refused", ok=False, reason=busy, command=unverified_summary(msg))
                return False
            self._cond.notify_all()
        return True

    # -- worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None:
                return
            try:
                self._handle(msg)
            except Exception as exc:  # the worker must survive anything a command does
                logger.exception("model updates: command failed")
                self._report("failed", ok=False, reason=f"internal error: {excerpt(str(exc), 200)}")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _handle(self, msg: dict[str, Any]) -> None:
        summary: dict[str, Any] = unverified_summary(msg)
        key = digest(msg)
        now = self.clock()
        try:
            verify_message(msg, self.config.model.public_keys)
            cmd = typed(msg)
            summary = cmd.summary()
            if self.handled.seen(key):  # delivered again: judged once, whatever the clock
                logger.info("model updates: command issued %s handled already", cmd.issued)
                return
            age = self.config.model.max_message_age_s
            issued = check_issued(cmd, now, age, clock_synced())
        except ClockError as exc:  # may pass once NTP has set the clock: send it again then
            self._report("failed", ok=False, reason=str(exc), retry=True, command=summary)
            return
        except CommandError as exc:
            self._report("refused", ok=False, reason=str(exc), command=summary)
            return
        if issued <= self.handled.last_issued(now):
            self._not_newer(key, summary)
            return
        self._report("accepted", command=summary)
        try:
            if cmd.type == "rollback":
                bundle = self.store.rollback(report=lambda s: self._report(s, command=summary))
            else:
                bundle = self._update(cmd, summary)
        except DownloadError as exc:  # may pass: not remembered, so it can be tried again
            self._report("failed", ok=False, reason=str(exc), retry=True, command=summary)
            return
        except BundleError as exc:
            self.handled.remember(issued, key, now)
            self._report("refused", ok=False, reason=str(exc), command=summary)
            return
        self.handled.remember(issued, key, now)
        self._switch(bundle, summary)

    def _not_newer(self, key: str, summary: dict[str, Any]) -> None:
        self._report(
            "ignored",
            ok=False,
            reason=f"command issued {summary['issued']} is not newer than the last command "
            "handled; sign a new one (`microemo-train update-msg` stamps the current time)",
            command=summary,
        )

    def _update(self, cmd: Command, summary: dict[str, Any]) -> Bundle:
        limit = self.config.model.max_bundle_bytes
        timeout_s = self.config.model.download_timeout_s
        if cmd.url:
            self._report("downloading", command=summary)
            archive = download(cmd.url, limit, timeout_s)
        else:
            assert cmd.chunks is not None
            base = cmd.chunks.topic.rstrip("/")
            if not base.startswith(self.cmd_prefix) or base == self.command_topic:
                raise CommandError(
                    f"chunks.topic {excerpt(base, 80)} is not under {self.cmd_prefix}: the "
                    "device receives no other topics"
                )
            self._report("collecting-chunks", command=summary)
            archive = self.chunks.collect(base, cmd.chunks.count, timeout_s, self.subscribe)
        got = hashlib.sha256(archive).hexdigest()
        if got != str(cmd.sha256).lower():
            raise BundleError(f"downloaded archive sha256 {got} is not the command's {cmd.sha256}")
        self._report("downloaded", command=summary, bytes=len(archive))
        work = self.store.root / "download" / uuid.uuid4().hex
        try:
            src = unpack(archive, work, limit)
            manifest = read_manifest(src)
            for k in ("name", "version"):
                if manifest.get(k) != getattr(cmd, k):
                    raise BundleError(
                        f"bundle {k} {excerpt(manifest.get(k))} is not the command's "
                        f"{excerpt(getattr(cmd, k))}"
                    )
            return self.store.install(
                src,
                allow_downgrade=cmd.allow_downgrade,
                report=lambda s: self._report(s, command=summary),
            )
        finally:
            shutil.rmtree(work.parent, ignore_errors=True)

    def _switch(self, bundle: Bundle, command: dict[str, Any]) -> None:
        try:
            self.on_switch(bundle)
        except Exception as exc:
            logger.error("model updates: %s failed to load in the pipeline: %s", bundle.path, exc)
            try:
                old = self.store.rollback()
                self.on_switch(old)
            except Exception as exc2:
                logger.error("model updates: roll-back failed too: %s", exc2)
            self._report(
                "rolled-back", ok=False, reason=f"new model failed to load: {exc}", command=command
            )
            return
        self._report("live", ok=True, command=command)

    # -- status ------------------------------------------------------------------------------

    def _report(self, step: str, ok: bool | None = None, **fields: Any) -> None:
        status: dict[str, Any] = {"device": self.config.device.id, "step": step}
        if ok is not None:
            status["ok"] = ok
        status.update(fields)
        final = ("refused", "failed", "ignored", "live", "rolled-back")
        running = self.store.current() if step in final else None
        if running is not None:
            status["running"] = running.describe
        status["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        status = _redacted(status)  # a URL's credentials never leave the device
        (logger.warning if ok is False else logger.info)("model update: %s", status)
        self.last_status = status
        if self.publish_status is not None:
            try:
                self.publish_status(status)
            except Exception:
                logger.exception("model updates: publishing status failed")


def _redacted(value: Any) -> Any:
    """``value`` with the credentials of every URL in its strings masked (``redact_url``)."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value
