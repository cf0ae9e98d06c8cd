"""TLS against a real Mosquitto: a trusted CA connects, an untrusted one is named and retried."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mqtt_kit import Broker, Recorder, dedupe, free_port, make_events, validate_all, wait_for

from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.client import MqttSettings
from microemo.publish.mqtt.sink import MqttSink
from microemo.publish.mqtt.spool import Spool
from microemo.publish.mqtt.topics import Topics

pytestmark = pytest.mark.broker


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))  # fmt: skip


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
          issuer_key: ec.EllipticCurvePrivateKey | None, ca: bool) -> x509.Certificate:  # fmt: skip
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def make_pki(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, srv_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("microemo test CA", ca_key, None, None, ca=True)
    other = _cert("someone else's CA", other_key, None, None, ca=True)
    srv = _cert("localhost", srv_key, ca.subject, ca_key, ca=False)
    paths = {n: d / f"{n}.pem" for n in ("ca", "other_ca", "server", "server_key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["other_ca"].write_bytes(other.public_bytes(serialization.Encoding.PEM))
    paths["server"].write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    _write_key(srv_key, paths["server_key"])
    return paths


def test_tls_with_ca_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="microemo")
    pki = make_pki(tmp_path / "pki")
    tls_port = free_port()
    broker = Broker(tmp_path / "mosq", extra=[
        f"listener {tls_port} 127.0.0.1", f"cafile {pki['ca']}",
        f"certfile {pki['server']}", f"keyfile {pki['server_key']}",
    ])  # fmt: skip
    try:
        rec = Recorder(broker.port, "microemo/cabin-12/events")  # plain listener
        topics = Topics("microemo", "cabin-12")
        untrusted = MqttSettings(host="127.0.0.1", port=tls_port, tls=True,
                                 ca_file=pki["other_ca"], reconnect_min_s=0.1,
                                 reconnect_max_s=0.3)  # fmt: skip
        sink = MqttSink(topics, Spool(tmp_path / "spool.sqlite3", 1000), untrusted)
        builder = EventBuilder("cabin-12", sink.sequence)
        sent = list(make_events(builder, 0, 4))
        for event in sent:
            sink.emit(event)
        assert wait_for(lambda: sink.health()["connect_attempts"] >= 3)
        sink.close(timeout=0.1)
        errors = [r.message for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and str(pki["other_ca"]) in errors[0], errors

        trusted = MqttSettings(host="127.0.0.1", port=tls_port, tls=True, ca_file=pki["ca"])
        sink = MqttSink(topics, Spool(tmp_path / "spool.sqlite3", 1000), trusted)
        assert wait_for(lambda: len(dedupe(rec.events())) >= len(sent))
        assert sink.health()["connected"]
        sink.close()
        validate_all(rec.events())
        rec.close()
    finally:
        broker.stop()
