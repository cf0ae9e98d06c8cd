"""How the daemon's parts are chosen and connected: the sinks the config asks for, the model
to start with, the pipeline, and field model updates over MQTT.

Each part is typed by what the daemon uses of it (the Protocols here, ``FramePipeline`` in
``loop``, ``publish.sink.Sink``), so the real pipeline and a test's fake are checked alike.
Our own modules are imported plainly: a bug in one fails the start instead of quietly
switching a feature off. Only the optional third-party MQTT client (paho) is allowed to be
missing, and only when MQTT is off.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from microemo.config import Config
from microemo.daemon.loop import FramePipeline
from microemo.model.bundle import Bundle
from microemo.publish.local import JsonlSink
from microemo.publish.sink import FanoutSink, Sink

if TYPE_CHECKING:
    from microemo.publish.mqtt.sink import MqttSink

logger = logging.getLogger(__name__)


class DaemonError(RuntimeError):
    """The daemon cannot start; the message says what to change."""


class DaemonPipeline(FramePipeline, Protocol):
    """The pipeline as the daemon drives it (``microemo.pipeline.Pipeline``)."""

    @property
    def model_info(self) -> dict[str, Any]: ...

    @property
    def appearance_info(self) -> dict[str, Any] | None: ...

    def swap_model(self, bundle: Bundle | None) -> None: ...

    def close(self) -> None: ...


class PipelineFactory(Protocol):
    def __call__(self, config: Config, *, bundle: Bundle | None) -> DaemonPipeline: ...


class ModelUpdates(Protocol):
    """The field update channel as the daemon holds it (``model.updates.UpdateManager``)."""

    def stop(self, timeout: float = 10.0) -> None: ...


def stall_limit_s(config: Config) -> float:
    """How long a stuck frame loop (or landmarker worker) may take before it is stalled."""
    return config.daemon.budget_ms * config.daemon.watchdog_budgets / 1000.0


def build_sinks(config: Config) -> tuple[FanoutSink, MqttSink | None]:
    """JSON lines (``output.jsonl``) and, when ``mqtt.enabled``, the MQTT sink."""
    sinks: list[Sink] = []
    if config.output.jsonl:
        sinks.append(JsonlSink(config.output.jsonl))
    if config.output.csv:
        logger.warning(
            "output.csv is written by `microemo analyze` only: the daemon keeps disk "
            "I/O out of its frame loop"
        )
    mqtt = None
    if config.mqtt.enabled:
        try:
            from microemo.publish.mqtt.sink import MqttSink
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("paho"):
                raise
            raise DaemonError(
                f"mqtt.enabled = true but the MQTT sink cannot load ({exc}): "
                "install paho-mqtt or set mqtt.enabled = false"
            ) from exc
        mqtt = MqttSink.from_config(config)
        sinks.append(mqtt)
    return FanoutSink(sinks), mqtt


def initial_bundle(config: Config) -> Bundle | None:
    """The model to start with: the store's ``current``, else ``previous``, else
    ``model.bundle`` or the built-in default, each verified (``ModelStore.current``)."""
    from microemo.model.store import ModelStore

    return ModelStore(config).current()


def attach_updates(
    config: Config, pipeline: DaemonPipeline, mqtt: MqttSink | None
) -> ModelUpdates | None:
    """Field model updates (``microemo.model.updates``) when MQTT is on: commands arrive on
    the MQTT command topic and the new model goes live through ``pipeline.swap_model``.
    Returns the running manager (stopped at shutdown), or None without MQTT."""
    if mqtt is None:
        return None
    from microemo.model.store import ModelStore
    from microemo.model.updates import UpdateManager
    from microemo.publish.mqtt.topics import MODEL_STATUS

    manager = UpdateManager(
        config,
        ModelStore(config),
        pipeline.swap_model,
        lambda status: mqtt.publish_status(MODEL_STATUS, status),
        command_topic=mqtt.topics.cmd_model,
        subscribe=mqtt.subscribe,
    )
    mqtt.on_command(manager.handle_message)
    return manager.start()


def default_pipeline(config: Config, *, bundle: Bundle | None) -> DaemonPipeline:
    """The pipeline with ``landmarker.workers`` landmarker processes (one per core by
    default). From a live source each worker holds one frame: the next frame it gets is the
    newest, however busy it was, and a result never waits behind another frame in a worker.
    A recorded input replayed as fast as it goes (``source.realtime = false``) has no newest
    frame to keep fresh: there each worker holds two, so it never idles while a result
    travels back (measured on an idle 2-core machine with two workers: 1.39-1.48x one
    landmarker alone against 1.18-1.29x with one frame a worker), and it loses nothing: a
    dead worker's frames are dealt again."""
    from microemo.pipeline import Pipeline
    from microemo.sources import is_lossless
    from microemo.vision.pool import PoolError, worker_count

    lossless = is_lossless(config.source)
    try:
        return Pipeline(
            config,
            bundle=bundle,
            workers=worker_count(config.landmarker.workers),
            depth=2 if lossless else 1,
            resubmit=lossless,
            stall_s=stall_limit_s(config),
        )
    except PoolError as exc:  # a missing or broken model file: say which, exit 2
        raise DaemonError(str(exc)) from exc
