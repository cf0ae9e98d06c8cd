"""The daemon: source, pipeline, sinks, frame loop, watchdog and systemd, wired together.

Lifecycle: ``start()`` builds everything and sends READY; ``run()`` turns the frame loop
until the source ends or ``request_stop()`` (SIGTERM); then capture stops, the pipeline
ends every open episode, the sinks flush and ``run`` returns 0. ``request_reload()`` (SIGHUP)
re-reads the config between frames: an invalid file is refused and the running config kept;
a valid one is applied with the least disruption its changes allow.

One daemon per state folder (``daemon.lock``): a second start is refused, naming the first.
A full disk is a degraded state, not a failure: start goes on (saying so), events are made
and published from memory while the broker is up, and a stop counts what it cannot keep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microemo.clock import clock_synced
from microemo.config import Config, ConfigError, load_config
from microemo.daemon import status
from microemo.daemon.lock import StateLock, StateLocked
from microemo.daemon.loop import FrameLoop
from microemo.daemon.metrics import Metrics, status_line
from microemo.daemon.notify import Notifier, watchdog_interval_s
from microemo.daemon.preflight import PreflightError, check_start, state_space
from microemo.daemon.watchdog import Heartbeat, Watchdog
from microemo.daemon.wiring import (
    DaemonError,
    DaemonPipeline,
    ModelUpdates,
    PipelineFactory,
    attach_updates,
    build_sinks,
    default_pipeline,
    initial_bundle,
    stall_limit_s,
)
from microemo.publish.events import EventBuilder
from microemo.publish.sequence import FileStore, SequenceAllocator
from microemo.publish.sink import FanoutSink
from microemo.sources import is_live, is_lossless, source_opener
from microemo.sources.base import redact_url
from microemo.sources.capture import Capture, FrameSlot

if TYPE_CHECKING:
    from microemo.publish.mqtt.sink import MqttSink

logger = logging.getLogger(__name__)

START_WAIT_S = 30.0  # how long start() waits for a live camera before READY


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        overrides: dict[str, Any] | None = None,
        notifier: Notifier | None = None,
        pipeline_factory: PipelineFactory = default_pipeline,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.overrides = overrides or {}
        self.notifier = notifier or Notifier()
        self.pipeline_factory = pipeline_factory
        self._clock = clock
        self.metrics = Metrics(clock)
        self.heartbeat = Heartbeat(clock)
        self._stop_reason: str | None = None
        self._reload = False
        self._next: dict[str, float] = {}
        self.sink: FanoutSink | None = None
        self.mqtt: MqttSink | None = None
        self.pipeline: DaemonPipeline | None = None
        self.updates: ModelUpdates | None = None
        self._own_sequence: SequenceAllocator | None = None
        self.capture: Capture | None = None
        self.loop: FrameLoop | None = None
        self.watchdog: Watchdog | None = None
        self.lock: StateLock | None = None
        self.status: status.StatusService | None = None
        # per-face state for the page: the cabin stage's (eyes, attention) as the pipeline gives it
        self.face_extras: dict[str, status.FaceExtra] = {"cabin": lambda result: result.cabin}

    # -- building --------------------------------------------------------------------------
    def start(self) -> None:
        self._take_state(self.config.device.state_dir)  # a second daemon stops here
        self._check_source(self.config)
        clock_synced()  # says so now, once, if the clock is not synchronised
        self._build()

    def _build(self) -> None:
        """Everything after the checks (a reload that rebuilds has just run them)."""
        cfg = self.config
        state = cfg.device.state_dir
        self._take_state(state)
        space = state_space(cfg)
        if space is not None:
            logger.error("%s", space)
        self.sink, self.mqtt = build_sinks(cfg)
        health = self.mqtt.health if self.mqtt is not None else None
        self.status = status.start(cfg, health=health, extras=self.face_extras)
        if self.status is not None:  # listening before the camera opens: a busy port fails now
            self.sink.sinks.append(self.status.board)
            self.status.publish(self.snapshot(), self.metrics)
        # seq survives restarts: in the MQTT spool when there is one, else <state_dir>/seq
        if self.mqtt is not None:
            sequence = self.mqtt.sequence
        else:
            sequence = self._own_sequence = SequenceAllocator(FileStore(state / "seq"))
        events = EventBuilder(cfg.device.id, sequence)
        if self.mqtt is not None:  # a run that died left episodes open: their end comes first
            for event in self.mqtt.left_open():
                self.sink.emit(event)
        self.pipeline = self.pipeline_factory(cfg, bundle=initial_bundle(cfg))
        self.updates = attach_updates(cfg, self.pipeline, self.mqtt)
        self._start_capture(cfg)
        assert self.capture is not None
        self.loop = FrameLoop(
            self.pipeline,
            self.sink,
            self.capture.slot,
            events=events,
            budget_ms=cfg.daemon.budget_ms,
            metrics=self.metrics,
            heartbeat=self.heartbeat,
            face_timeout_ms=cfg.tracker.max_lost_ms,
            live=is_live(cfg.source),
            tap=self.status.board.tap if self.status is not None else None,
            clock=self._clock,
        )
        if self._stop_reason is not None:  # stopped while waiting for the camera: not READY
            return
        wd = watchdog_interval_s()
        self.watchdog = Watchdog(
            self.heartbeat,
            self.notifier,
            limit_s=stall_limit_s(cfg),
            ping_interval_s=wd / 2 if wd else None,
            clock=self._clock,
        )
        self.watchdog.start()
        now = self._clock()  # the first figures once there is something to average
        self._next["log"] = now + cfg.daemon.log_stats_s
        self._next["stats"] = now + min(cfg.mqtt.stats_interval_s, 5.0)
        logger.info(
            "microemo running: device %s, source %s, model %s, notify %s",
            cfg.device.id,
            self.capture.describe(),
            self.pipeline.model_info.get("version"),
            self.notifier.backend,
        )
        self.notifier.ready(f"running, source {self.capture.describe()}")

    def _take_state(self, folder: Path) -> None:
        """Create and hold ``folder`` (a reload onto another takes it before letting go)."""
        if self.lock is not None and self.lock.folder == folder:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DaemonError(
                f"device.state_dir = {str(folder)!r} cannot be created ({exc.strerror}): set "
                "device.state_dir to a writable folder"
            ) from exc
        lock = StateLock(folder)
        try:
            lock.acquire()
        except StateLocked as exc:
            raise DaemonError(str(exc)) from None
        if self.lock is not None:
            self.lock.release()
        self.lock = lock

    @staticmethod
    def _check_source(cfg: Config) -> None:
        """Refuse what can never work here (``config check`` runs the same, and more)."""
        try:
            logger.info("%s", check_start(cfg).describe())
        except PreflightError as exc:
            raise DaemonError(str(exc)) from None

    def _start_capture(self, cfg: Config) -> None:
        s = cfg.source
        slot = FrameSlot(lossless=is_lossless(s))
        self.capture = Capture(
            source_opener(s),
            slot,
            live=is_live(s),
            retry_initial_s=s.retry_initial_s,
            retry_max_s=s.retry_max_s,
            stall_s=s.timeout_s,
            clock=self._clock,
        )
        self.capture.name = f"{s.type} {redact_url(s.path) if s.path else s.device}"
        self.capture.start()
        # a camera that is not there yet is retried in the background: READY after a while
        deadline = self._clock() + (START_WAIT_S if is_live(s) else 3600.0)
        while not self.capture.opened.wait(0.2) and self._stop_reason is None:
            if self._clock() > deadline:
                break
        if self.capture.error is not None:
            raise DaemonError(str(self.capture.error))
        if self.loop is not None:
            self.loop.slot = slot

    # -- running ---------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        self._stop_reason = reason

    def request_reload(self) -> None:
        self._reload = True

    def run(self) -> int:
        assert self.loop is not None
        try:
            while self._stop_reason is None:
                if self._reload:
                    self._do_reload()
                if not self.loop.step():
                    self._stop_reason = "end of stream"
                    break
                self._periodic()
        finally:
            self.shutdown()
        return 0

    def snapshot(self) -> dict[str, Any]:
        cap = self.capture
        pool = getattr(self.pipeline, "pool", None)  # landmarker workers, if any
        lost = pool.lost + pool.dropped if pool is not None else 0
        snap = self.metrics.snapshot(
            cap.slot.put_count if cap else 0,
            (cap.slot.dropped if cap else 0) + lost,
            cap.status() if cap else None,
        )
        if pool is not None:
            snap["landmarker"] = pool.stats()
        snap["device_id"] = self.config.device.id
        snap["model"] = self.pipeline.model_info if self.pipeline is not None else {}
        # the appearance model decides core_emotion too: which one runs (None when off)
        snap["appearance"] = self.pipeline.appearance_info if self.pipeline is not None else None
        snap["stalls"] = self.watchdog.stalls if self.watchdog else 0
        snap["pipeline_errors"] = self.loop.errors if self.loop else 0
        snap["clock_synced"] = clock_synced()
        if self.mqtt is not None:
            snap["spool"] = self.mqtt.figures()
        return snap

    def _due(self, name: str, every_s: float) -> bool:
        now = self._clock()
        if every_s <= 0 or now < self._next.get(name, 0.0):
            return False
        self._next[name] = now + every_s
        return True

    def _periodic(self) -> None:
        d = self.config.daemon
        want_status = self.notifier.enabled and self._due("status", d.status_interval_s)
        want_stats = self._due("stats", self.config.mqtt.stats_interval_s)
        want_log = self._due("log", d.log_stats_s) and self.metrics.processed > 0
        want_page = self.status is not None and self._due("page", self.config.status.interval_s)
        if not (want_status or want_stats or want_log or want_page):
            return
        snap = self.snapshot()
        if want_page and self.status is not None:
            self.status.publish(snap, self.metrics)
        if want_status:
            self.notifier.status(status_line(snap))
        if want_stats and self.sink is not None:
            self.sink.stats(snap)
        if want_log:
            logger.info("%s", status_line(snap))

    # -- reload and shutdown ---------------------------------------------------------------
    def _do_reload(self) -> None:
        self._reload = False
        self.notifier.reloading()
        try:
            new = load_config(self.config_path, self.overrides)
            self._check_source(new)
        except (ConfigError, DaemonError) as exc:
            logger.error("reload refused, the running configuration stays:\n%s", exc)
            self.notifier.ready("reload refused; running the previous configuration")
            return
        changed = {k for k in Config.model_fields if getattr(new, k) != getattr(self.config, k)}
        logger.info("reload: %s", ", ".join(sorted(changed)) or "nothing changed")
        try:
            self._apply(new, changed)
        except Exception as exc:
            logger.error("reload failed (%s): stopping so that systemd restarts us", exc)
            self._stop_reason = "reload failed"
            raise
        self.notifier.ready("running (configuration reloaded)")

    def _apply(self, new: Config, changed: set[str]) -> None:
        self.config = new
        assert self.loop is not None and self.watchdog is not None and self.capture is not None
        assert self.pipeline is not None
        self.loop.budget_ms = new.daemon.budget_ms
        self.watchdog.limit_s = stall_limit_s(new)
        rest = changed - {"daemon", "source", "model"}
        if rest:  # sinks, device id, pipeline stages: rebuild all but the process
            logger.info("rebuilding sinks and pipeline for %s", ", ".join(sorted(rest)))
            self._teardown()
            self.loop = None
            self._build()  # ``new`` passed ``_check_source`` in ``_do_reload``
            return
        if "source" in changed:
            self.capture.stop()
            self._start_capture(new)
        # the store's current model may have changed under us (``microemo model install`` or
        # ``rollback`` on the command line, then SIGHUP): whatever ``current`` is now runs
        bundle = initial_bundle(new)
        wanted = bundle.describe if bundle is not None else {"sha256": None}
        running = self.pipeline.model_info
        if "model" in changed or wanted.get("sha256") != running.get("sha256"):
            logger.info(
                "reload: model %s %s -> %s %s",
                running.get("name"),
                running.get("version"),
                wanted.get("name", "facs-rules"),
                wanted.get("version", "builtin"),
            )
            self.pipeline.swap_model(bundle)

    def _teardown(self) -> None:
        """Every part stopped, in order; one that fails is logged and the rest still stop
        (the sinks above all: they hold the events not yet written)."""
        cap, loop, seq, upd = self.capture, self.loop, self._own_sequence, self.updates
        sink, pipe, wd, page = self.sink, self.pipeline, self.watchdog, self.status
        steps: list[tuple[str, Callable[[], object] | None]] = [
            ("status page", None if page is None else page.stop),
            ("capture", None if cap is None else cap.stop),
            ("episodes", None if loop is None else loop.finish),
            ("sequence", None if seq is None else seq.close),
            ("updates", None if upd is None else upd.stop),
            ("sinks", None if sink is None else sink.close),
            ("pipeline", None if pipe is None else pipe.close),
            ("watchdog", None if wd is None else wd.stop),
        ]
        self._own_sequence = None
        self.status = None
        for name, stop in steps:
            try:
                if stop:
                    stop()
            except Exception:
                logger.exception("stopping %s failed; stopping the rest", name)

    def shutdown(self) -> None:
        reason = self._stop_reason or "error"
        self.notifier.stopping(f"stopping: {reason}")
        built = self.sink is not None or self.capture is not None or self.lock is not None
        try:
            self._teardown()
        finally:
            if built:  # a start refused before anything ran has said why already
                logger.info("stopped (%s): %s", reason, status_line(self.snapshot()))
            if self.lock is not None:
                self.lock.release()
