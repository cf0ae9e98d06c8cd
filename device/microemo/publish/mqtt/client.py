"""The MQTT connection's settings and the paho client the link drives.

``MqttSettings`` comes from the ``[mqtt]`` config section plus the password, which is read
by ``microemo.secrets`` (environment or systemd credential, never the config file).
``make_client`` sets credentials, the last will (``offline`` on the availability topic) and
TLS; reconnecting is left to the link, which backs off with jitter.
"""

from __future__ import annotations

import logging
import random
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from microemo.config import MqttConfig
from microemo.publish.mqtt.topics import Topics
from microemo.secrets import mqtt_password

logger = logging.getLogger(__name__)


_AUTH_HINT = (
    "check mqtt.username and the mqtt_password credential "
    "(env MICROEMO_MQTT_PASSWORD or $CREDENTIALS_DIRECTORY/mqtt_password)"
)


class MqttError(Exception):
    """MQTT cannot be set up (bad CA file, bad client certificate); names the file."""


@dataclass
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    client_id: str = ""
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    state_interval_s: float = 1.0
    discovery: bool = True
    share_landmarks: bool = False
    inflight: int = 32
    handoff: int = 1024
    cabin: bool = True  # cabin readings measured: their discovery entities are published

    @classmethod
    def from_config(cls, m: MqttConfig, **extra: Any) -> MqttSettings:
        names = set(cls.__dataclass_fields__) - {"password", "inflight", "handoff", "cabin"}
        values = {n: getattr(m, n) for n in names}
        return cls(**values, password=mqtt_password(), **extra)


def make_client(settings: MqttSettings, topics: Topics) -> mqtt.Client:
    """A paho client for ``topics``' device; ``MqttError`` names a bad TLS file."""
    s = settings
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=s.client_id or f"microemo-{topics.device_id}",
        reconnect_on_failure=False,  # Link reconnects, with jitter
    )
    client.max_inflight_messages_set(s.inflight + 16)
    if s.username:
        client.username_pw_set(s.username, s.password)
    elif s.password:
        logger.warning("an MQTT password is set but mqtt.username is empty: not sending it")
    client.will_set(topics.availability, "offline", qos=1, retain=True)
    if s.tls:
        set_tls(client, s)
    return client


def disconnect_reason(flags: Any, rc: Any, keepalive_s: int) -> str:
    """What a lost connection means, in words: paho reports a connection the broker closed
    without a DISCONNECT packet (MQTT 3.1.1 brokers, Mosquitto stopping cleanly included) as
    "Unspecified error", which says nothing to an operator."""
    name = rc.getName() if hasattr(rc, "getName") else str(rc)
    if getattr(flags, "is_disconnect_packet_from_server", False):
        return f"the broker ended the session ({name})"
    if name == "Keep alive timeout":
        return f"the broker did not answer within the keep-alive ({keepalive_s} s)"
    if name in ("Unspecified error", "Success"):
        return (
            "the broker closed the connection (it was stopped or restarted, "
            "or the network dropped the link)"
        )
    return f"the connection failed ({name})"


def backoff_s(attempt: int, low: float, high: float) -> float:
    """Capped exponential back-off with "equal jitter": half fixed, half random."""
    ceiling = min(high, low * 2 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def refusal(rc: Any, s: MqttSettings) -> str:
    """A CONNACK that refuses: bad credentials name where the password comes from."""
    hint = _AUTH_HINT if int(rc.value) in (4, 5, 134, 135) else "check the broker log"
    return f"MQTT broker {s.host}:{s.port} refused the connection: {rc.getName()}; {hint}"


def connect_problem(exc: OSError, s: MqttSettings) -> tuple[str, int]:
    """What a failed ``connect()`` tells the operator, and at which log level."""
    where = f"{s.host}:{s.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: broker {where} certificate not trusted ({exc.verify_message}); check that "
            f"mqtt.ca_file {s.ca_file} holds the CA that signed it",
            logging.ERROR,
        )
    if (isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc)) or (
        s.tls and isinstance(exc, (ConnectionResetError, ssl.SSLEOFError))
    ):
        return (
            f"TLS handshake with {where} failed: the broker does not speak TLS on that port "
            f"({type(exc).__name__}); use its TLS port or set mqtt.tls = false",
            logging.ERROR,
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc}", logging.ERROR
    if isinstance(exc, ConnectionRefusedError):
        return (
            f"cannot reach MQTT broker {where}: connection refused (nothing listens there: is "
            "the broker running, are mqtt.host and mqtt.port right?)",
            logging.WARNING,
        )
    if isinstance(exc, TimeoutError):
        return (
            f"cannot reach MQTT broker {where}: no answer to the connection (a firewall, a wrong "
            f"mqtt.host{', or a TLS handshake that never ends' if s.tls else ''})",
            logging.WARNING,
        )
    return f"cannot reach MQTT broker {where}: {exc.strerror or exc}", logging.WARNING


def unanswered(reason: str, s: MqttSettings) -> str:
    """A connection that ended before the broker answered CONNECT: ``reason`` is paho's
    name for how (it says nothing to an operator on its own)."""
    where = f"MQTT broker {s.host}:{s.port}"
    tls = "" if s.tls else "; if that port wants TLS, set mqtt.tls = true (and mqtt.ca_file)"
    if reason == "Keep alive timeout":
        return (
            f"{where} accepted the connection but sent no MQTT answer within the keep-alive "
            f"({s.keepalive_s} s): is it an MQTT port? check mqtt.host and mqtt.port{tls}"
        )
    if reason == "Protocol error":
        return f"{where} answered with something that is not MQTT: check mqtt.port{tls}"
    return (
        f"{where} closed the connection without answering the MQTT CONNECT{tls}; else see "
        "the broker's log"
    )


def set_tls(client: mqtt.Client, s: MqttSettings) -> None:
    for key, path in (("ca_file", s.ca_file), ("cert_file", s.cert_file),
                      ("key_file", s.key_file)):  # fmt: skip
        if path is not None and not Path(path).is_file():
            raise MqttError(f"mqtt.{key} {path}: no such file; set mqtt.{key} to a PEM file")
    try:
        client.tls_set(
            ca_certs=str(s.ca_file) if s.ca_file else None,
            certfile=str(s.cert_file) if s.cert_file else None,
            keyfile=str(s.key_file) if s.key_file else None,
        )
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise MqttError(
            f"mqtt TLS set-up failed ({exc}): check that mqtt.ca_file {s.ca_file} is a PEM "
            f"CA bundle and that mqtt.cert_file {s.cert_file} matches mqtt.key_file "
            f"{s.key_file}"
        ) from None
