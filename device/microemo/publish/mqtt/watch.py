"""``microemo events``: subscribe to a device (or all) and pretty-print what it publishes.

For people debugging a cabin: one line per event, state change, stats and availability,
duplicates (after a reconnect) marked, sequence gaps pointed out.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
from typing import Any, TextIO

import paho.mqtt.client as mqtt

from microemo.publish.events import CABIN_SCHEMA_ID
from microemo.publish.mqtt import topics as topic_names
from microemo.secrets import mqtt_password

logger = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "events",
        help="subscribe to a device's MQTT topics and pretty-print them",
        description=__doc__,
    )
    p.add_argument("--host", default="localhost", help="broker host (default localhost)")
    p.add_argument("--port", type=int, default=1883, help="broker port (default 1883)")
    p.add_argument("--prefix", default="microemo", help="topic prefix (default microemo)")
    p.add_argument("--device", default="+", help="device id, or + for every device (default)")
    p.add_argument("--raw", action="store_true", help="print topic and payload as received")
    p.add_argument("--username", default="", help="user name; password from env "
                   "MICROEMO_MQTT_PASSWORD or $CREDENTIALS_DIRECTORY/mqtt_password")  # fmt: skip
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-file", default=None, help="CA certificate for --tls")
    p.add_argument("--count", type=int, default=0, help="exit after this many events (0: never)")
    p.add_argument("--timeout", type=float, default=0, help="exit after this many seconds")
    p.set_defaults(func=run)


# episodes and cabin events share the device's sequence: both are followed for its gaps
_EVENT_TOPICS = (topic_names.EVENTS, topic_names.CABIN_EVENTS)


class Printer:
    """Formats messages; remembers (id, phase) and the last seq per device."""

    def __init__(self, prefix: str, out: TextIO, raw: bool = False) -> None:
        self.prefix = prefix
        self.out = out
        self.raw = raw
        self.events = 0
        self._seen: set[tuple[str, str, str]] = set()
        self._last_seq: dict[str, int] = {}

    def handle(self, topic: str, payload: bytes, retained: bool = False) -> None:
        parsed = topic_names.parse(self.prefix, topic)
        if self.raw:
            self._print(f"{topic} {payload.decode(errors='replace')}")
            self.events += parsed is not None and parsed[1] in _EVENT_TOPICS
            return
        if parsed is None:
            return
        device, rest = parsed
        if rest == topic_names.AVAILABILITY:
            self._print(f"{device} is {payload.decode(errors='replace') or '(cleared)'}")
            return
        try:
            data = json.loads(payload) if payload else None
        except ValueError:
            self._print(f"{device} {rest}: not JSON: {payload[:80]!r}")
            return
        face = topic_names.face_of(rest)
        if rest in _EVENT_TOPICS and isinstance(data, dict):
            self._event(device, data)
        elif face is not None:
            self._print(f"{device} face {face}: " + (self._state(data) if data else "left"))
        elif rest == topic_names.STATE and isinstance(data, dict):
            self._print(f"{device} {data.get('faces', 0)} face(s): {self._state(data)}")
        elif rest == topic_names.STATS and isinstance(data, dict):
            spool = data.get("spool") or {}
            self._print(
                f"{device} stats: fps {data.get('fps')}, spool {spool.get('depth')}, "
                f"dropped {spool.get('dropped')}, temp {data.get('temperature_c')}"
            )
        else:
            mark = " (retained)" if retained else ""
            self._print(f"{device} {rest}: {json.dumps(data)}{mark}")

    def _state(self, s: dict[str, Any]) -> str:
        aus = " ".join(f"{k}={v}" for k, v in sorted((s.get("aus") or {}).items()) if v)
        return f"{s.get('core_emotion') or '-'} / {s.get('micro_emotion') or '-'} {aus}".rstrip()

    def _event(self, device: str, e: dict[str, Any]) -> None:
        key = (device, str(e.get("id")), str(e.get("phase")))
        dup = key in self._seen
        self._seen.add(key)
        seq = int(e.get("seq") or 0)
        note = " (duplicate)" if dup else ""
        last = self._last_seq.get(device)
        if not dup and last is not None and seq > last + 1:
            note += f" (gap: {seq - last - 1} seq numbers missing or skipped)"
        if not dup:
            self._last_seq[device] = max(seq, last or 0)
            self.events += 1
        micro = f"/{e['micro_emotion']}" if e.get("micro_emotion") else ""
        rule = f" [{e['micro_rule']}]" if e.get("micro_rule") else ""
        if e.get("schema") == CABIN_SCHEMA_ID:  # what: microsleep, yawn... (no emotion)
            micro, rule = "", f" ({e['cause']})" if e.get("cause") else ""
        dur = e.get("duration_ms")
        if e.get("regions"):  # an expression of the mouth alone, or on top of a held one
            rule += f" {'+'.join(e['regions'])}" + (
                f" within {e['within']}" if e.get("within") else ""
            )
        if e.get("ended_by") == "restart":
            note += " (ended at the device's restart: its previous run died with it open)"
        self._print(
            f"{e.get('time', '')} {device} face {e.get('face_id')} {str(e.get('phase')).upper():6} "
            f"{e.get('core_emotion') or 'cabin'}{micro}{rule} {e.get('kind') or ''} "
            f"{'' if dur is None else f'{dur:.0f} ms '}seq {seq} id {e.get('id')}{note}"
        )

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def run(args: argparse.Namespace) -> int:
    printer = Printer(args.prefix, sys.stdout, args.raw)
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if args.username:
        client.username_pw_set(args.username, mqtt_password())
    if args.tls:
        client.tls_set(ca_certs=args.ca_file)
    filt = topic_names.subscription(args.prefix, args.device)

    def on_connect(c: mqtt.Client, u: Any, f: Any, rc: Any, p: Any) -> None:
        if rc.is_failure:
            print(f"broker {args.host}:{args.port} refused: {rc.getName()}", file=sys.stderr)
            done.set()
            return
        c.subscribe(filt, qos=1)
        print(f"listening on {filt} at {args.host}:{args.port}", file=sys.stderr, flush=True)

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        printer.handle(msg.topic, bytes(msg.payload), bool(msg.retain))
        if args.count and printer.events >= args.count:
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(args.host, args.port)
    except OSError as exc:
        print(f"cannot reach broker {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    client.loop_start()
    with contextlib.suppress(KeyboardInterrupt):
        done.wait(args.timeout or None)
    client.disconnect()
    client.loop_stop()
    return 0 if not args.count or printer.events >= args.count else 1
