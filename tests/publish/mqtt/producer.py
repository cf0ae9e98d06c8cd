"""A stand-in daemon for the crash tests: emits synthetic events through MqttSink.

Prints ``committed SEQ ID PHASE`` once each event is committed to the spool (flushed), so
the test knows exactly what the sink accepted before it was killed with -9.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from mqtt_kit import make_events

from microemo.config import load_config
from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.sink import MqttSink


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--device", default="cabin-9")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=100, help="episodes (3 events each)")
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--linger", type=float, default=10.0, help="close(): time to drain")
    args = ap.parse_args()
    config = load_config(None, {
        "mqtt.enabled": True, "mqtt.host": "127.0.0.1", "mqtt.port": args.port,
        "mqtt.reconnect_min_s": 0.1, "mqtt.reconnect_max_s": 0.5,
        "device.id": args.device, "device.state_dir": args.state_dir,
    })  # fmt: skip
    sink = MqttSink.from_config(config)
    print("ready", flush=True)
    builder = EventBuilder(args.device, sink.sequence)
    for event in make_events(builder, args.start, args.count):
        sink.emit(event)
        sink.flush()
        print("committed", event["seq"], event["id"], event["phase"], flush=True)
        time.sleep(args.interval)
    sink.close(timeout=args.linger)
    print("closed", sink.health()["spool_depth"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
