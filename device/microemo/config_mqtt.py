"""The ``[mqtt]`` and ``[spool]`` config sections: the broker link and the on-disk spool
events wait in while the broker is away (``microemo.publish.mqtt``).

Their own module so that ``config.py`` stays one screen per concern; ``config.Config`` holds
them as ``mqtt`` and ``spool`` (and re-exports both classes); the rules are
``config_base.Section``'s.
"""

from __future__ import annotations

from pydantic import Field

from microemo.config_base import PathStr, Section


class MqttConfig(Section):
    enabled: bool = Field(False, description="publish events over MQTT")
    host: str = Field("localhost", description="broker host name")
    port: int = Field(1883, ge=1, le=65535, description="broker port")
    prefix: str = Field("microemo", pattern=r"^[^#+]+$", description="topic prefix")
    username: str = Field("", description="user name; the password comes from credentials")
    tls: bool = Field(False, description="use TLS")
    ca_file: PathStr | None = Field(None, description="CA certificate for TLS")
    cert_file: PathStr | None = Field(None, description="client certificate for TLS")
    key_file: PathStr | None = Field(None, description="client key for TLS")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive")
    client_id: str = Field("", max_length=128, description="MQTT client id; '' = microemo-<device>")
    reconnect_min_s: float = Field(1.0, gt=0, le=600, description="first reconnect back-off")
    reconnect_max_s: float = Field(
        60.0, gt=0, le=3600, description="longest reconnect back-off (with jitter)"
    )
    state_interval_s: float = Field(
        1.0, ge=0.1, le=3600, description="minimum seconds between retained face states"
    )
    stats_interval_s: float = Field(30.0, ge=1, le=3600, description="seconds between stats")
    discovery: bool = Field(True, description="publish Home Assistant discovery configs")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant discovery prefix")
    share_landmarks: bool = Field(False, description="privacy: never publish landmarks unless true")


class SpoolConfig(Section):
    max_events: int = Field(
        100_000,
        ge=100,
        le=10_000_000,
        description="events kept while the broker is away; oldest dropped",
    )
    max_bytes: int = Field(
        64_000_000,
        ge=1_000_000,
        le=1_000_000_000_000,
        description="bytes of events kept while the broker is away (the file takes about "
        "1.25 times this, plus at most about 1 MB of journal); oldest dropped",
    )
    path: PathStr | None = Field(
        None, description="spool database; default: <state_dir>/spool.sqlite3"
    )
    fsync: bool = Field(
        True, description="fsync each commit (survives power loss, not only kill -9)"
    )
    inflight: int = Field(
        32, ge=1, le=1000, description="events published but not yet acknowledged"
    )
    handoff: int = Field(
        1024,
        ge=16,
        le=100_000,
        description="events waiting for the spool writer; past it they are counted",
    )
