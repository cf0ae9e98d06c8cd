"""Signed model-update commands from MQTT, handled off the frame loop.

A command arrives on the device's command topic as JSON (``command_topic``, which the
daemon takes from ``publish.mqtt.topics``: ``{prefix}/{device}/cmd/model``)::

    {"type": "update" | "rollback", "name": ..., "version": ...,
     "sha256": "<sha256 of the bundle archive (.tar.gz or .tar)>",
     "url": "https://host/bundle.tar.gz"            # or, for broker-only devices:
     "chunks": {"topic": "<prefix>/<device>/cmd/model/chunks/<sha8>", "count": N},
     "allow_downgrade": false, "issued": "2026-01-01T00:00:00Z", "signature": "<base64>"}

``signature`` is ed25519 by a key in ``model.public_keys`` over ``canonical_message`` of all
other fields. The archive holds the bundle's files at its top level (``microemo-train
update-msg`` makes both). The sha256 pins the archive bytes before anything is unpacked; the
bundle's own manifest signature and hashes are then checked again by the store.

Commands are queued (bounded) and run on one worker thread, never in the frame loop; each
step is logged and reported through ``publish_status``. A command whose ``issued`` is not newer
than the last one handled is ignored, so a retained command re-delivered at every reconnect
is applied once. On success ``on_switch(bundle)`` (the daemon's ``pipeline.swap_model``) makes
the new model live at the next window; if it raises, the store rolls back and the old bundle
is switched in again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from microemo.config import Config
from microemo.model.archive import download, unpack
from microemo.model.bundle import MANIFEST, Bundle, BundleError, load_public_key
from microemo.model.store import ModelStore

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "signature"
QUEUE_SIZE = 4


class CommandError(BundleError):
    """A command that is refused before any bundle is touched."""


def canonical_message(payload: dict[str, Any]) -> bytes:
    """The bytes a command's signature covers: every field except ``signature`` as JSON with
    sorted keys, no whitespace, UTF-8. The signer and the device both use this function."""
    rest = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def verify_message(msg: dict[str, Any], public_keys: list[str]) -> None:
    from cryptography.exceptions import InvalidSignature

    sig_text = msg.get(SIGNATURE_FIELD)
    if not isinstance(sig_text, str):
        raise CommandError("command carries no signature; sign it with `microemo-train update-msg`")
    try:
        sig = base64.b64decode(sig_text, validate=True)
    except ValueError as exc:
        raise CommandError("command signature is not base64") from exc
    data = canonical_message(msg)
    for key_text in public_keys:
        try:
            load_public_key(key_text).verify(sig, data)
            return
        except (InvalidSignature, ValueError):
            continue
    raise CommandError("command signature does not verify with any key in model.public_keys")


def chunk_topics(base: str, count: int) -> list[str]:
    """The topics of an update's ``count`` chunks: ``{chunks.topic}/{i}``, part of the
    command format (``microemo-train update-msg`` publishes them there)."""
    return [f"{base.rstrip('/')}/{i}" for i in range(count)]


def parse_issued(text: Any) -> float:
    try:
        dt = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise CommandError(f"command field issued={text!r} is not an ISO 8601 time") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


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
        subscribe: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.command_topic = command_topic.rstrip("/")
        self.store = store
        self.on_switch = on_switch
        self.publish_status = publish_status
        self.subscribe = subscribe
        self.clock = clock
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._chunks: dict[str, bytes] = {}
        self._chunk_bytes = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._busy = False
        self._thread: threading.Thread | None = None
        self._seen_file = store.root / "last_command.json"
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
            while self._busy or not self._queue.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    # -- input (MQTT callback thread: fast, never blocks) -------------------------------------

    def handle_message(self, topic: str, payload: bytes) -> None:
        """``MqttSink.on_command`` callback: commands (on ``command_topic``) are queued, any
        other topic delivered to us is a bundle chunk and kept (bounded)."""
        if topic.rstrip("/") != self.command_topic:
            self._keep_chunk(topic, payload)  # anything else delivered to us is a chunk
            return
        try:
            msg = json.loads(payload)
            if not isinstance(msg, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            self._report("refused", ok=False, reason=f"{topic}: command is not JSON ({exc})")
            return
        self.submit(msg)

    def submit(self, msg: dict[str, Any]) -> bool:
        with self._cond:
            try:
                self._queue.put_nowait(msg)
            except queue.Full:
                logger.warning("model updates: %d commands pending, dropped one", QUEUE_SIZE)
                return False
            self._cond.notify_all()
        return True

    def _keep_chunk(self, topic: str, payload: bytes) -> None:
        with self._cond:
            old = self._chunks.pop(topic, b"")
            self._chunk_bytes -= len(old)
            if not payload:  # an empty retained message clears the chunk
                return
            if self._chunk_bytes + len(payload) > 2 * self.config.model.max_bundle_bytes:
                logger.warning("model updates: chunk buffer full, dropped %s", topic)
                return
            self._chunks[topic] = payload
            self._chunk_bytes += len(payload)
            self._cond.notify_all()

    # -- worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            msg = self._queue.get()
            if msg is None:
                return
            with self._cond:
                self._busy = True
            try:
                self._handle(msg)
            except Exception as exc:  # the worker must survive anything a command does
                logger.exception("model updates: command failed")
                self._report("failed", ok=False, reason=f"internal error: {exc}")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _handle(self, msg: dict[str, Any]) -> None:
        command = {k: msg.get(k) for k in ("type", "name", "version", "issued")}
        try:
            issued = self._check(msg)
        except CommandError as exc:
            self._report("refused", ok=False, reason=str(exc), command=command)
            return
        if issued is None:
            return  # already handled
        self._report("accepted", command=command)
        try:
            if msg["type"] == "rollback":
                bundle = self.store.rollback(report=lambda s: self._report(s, command=command))
            else:
                bundle = self._update(msg, command)
        except BundleError as exc:
            self._report("refused", ok=False, reason=str(exc), command=command)
            return
        finally:
            self._remember(issued)
        self._switch(bundle, command)

    def _check(self, msg: dict[str, Any]) -> float | None:
        verify_message(msg, self.config.model.public_keys)
        if msg.get("type") not in ("update", "rollback"):
            raise CommandError(f"command type {msg.get('type')!r}: expected update or rollback")
        issued = parse_issued(msg.get("issued"))
        age = self.clock() - issued
        if age > self.config.model.max_message_age_s:
            raise CommandError(
                f"command issued {msg.get('issued')} is older than "
                f"model.max_message_age_s={self.config.model.max_message_age_s}"
            )
        if issued <= self._last_issued():
            logger.info("model updates: command issued %s already handled", msg.get("issued"))
            return None
        return issued

    def _update(self, msg: dict[str, Any], command: dict[str, Any]) -> Bundle:
        limit = self.config.model.max_bundle_bytes
        want = str(msg.get("sha256", "")).lower()
        if len(want) != 64:
            raise CommandError("update command needs sha256 (64 hex digits) of the archive")
        if msg.get("url"):
            self._report("downloading", command=command)
            archive = download(str(msg["url"]), limit, self.config.model.download_timeout_s)
        elif isinstance(msg.get("chunks"), dict):
            self._report("collecting-chunks", command=command)
            archive = self._collect_chunks(msg["chunks"], limit)
        else:
            raise CommandError("update command needs url or chunks")
        got = hashlib.sha256(archive).hexdigest()
        if got != want:
            raise BundleError(f"downloaded archive sha256 {got} is not the command's {want}")
        self._report("downloaded", command=command, bytes=len(archive))
        work = self.store.root / "download" / uuid.uuid4().hex
        try:
            src = unpack(archive, work, limit)
            manifest = (
                json.loads((src / MANIFEST).read_text()) if (src / MANIFEST).is_file() else {}
            )
            for key in ("name", "version"):
                if manifest.get(key) != msg.get(key):
                    raise BundleError(
                        f"bundle {key} {manifest.get(key)!r} is not the command's {msg.get(key)!r}"
                    )
            return self.store.install(
                src,
                allow_downgrade=bool(msg.get("allow_downgrade", False)),
                report=lambda s: self._report(s, command=command),
            )
        finally:
            shutil.rmtree(work.parent, ignore_errors=True)

    def _collect_chunks(self, spec: dict[str, Any], limit: int) -> bytes:
        base = str(spec.get("topic", "")).rstrip("/")
        count = int(spec.get("count", 0))
        if not base or not 0 < count <= 100_000:
            raise CommandError(f"chunks {spec!r}: need topic and a count in 1..100000")
        if self.subscribe is not None:
            self.subscribe(f"{base}/#")
        topics = chunk_topics(base, count)
        deadline = time.monotonic() + self.config.model.download_timeout_s
        with self._cond:
            while not all(t in self._chunks for t in topics):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(t not in self._chunks for t in topics)
                    raise BundleError(
                        f"{base}: {missing} of {count} chunks did not arrive within "
                        f"model.download_timeout_s"
                    )
                self._cond.wait(min(left, 0.5))
            data = b"".join(self._chunks[t] for t in topics)
        if len(data) > limit:
            raise BundleError(f"{base}: {len(data)} bytes, over model.max_bundle_bytes={limit}")
        return data

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

    # -- bookkeeping -------------------------------------------------------------------------

    def _last_issued(self) -> float:
        try:
            return float(json.loads(self._seen_file.read_text())["issued"])
        except (OSError, ValueError, KeyError, TypeError):
            return float("-inf")

    def _remember(self, issued: float) -> None:
        self._seen_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._seen_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"issued": issued}))
        tmp.replace(self._seen_file)

    def _report(self, step: str, ok: bool | None = None, **fields: Any) -> None:
        status: dict[str, Any] = {"device": self.config.device.id, "step": step}
        if ok is not None:
            status["ok"] = ok
        status.update(fields)
        running = self.store.current() if step in ("refused", "live", "rolled-back") else None
        if running is not None:
            status["running"] = running.describe
        status["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (logger.warning if ok is False else logger.info)("model update: %s", status)
        self.last_status = status
        if self.publish_status is not None:
            try:
                self.publish_status(status)
            except Exception:
                logger.exception("model updates: publishing status failed")
