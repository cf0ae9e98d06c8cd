"""The landmarker asset: pinned by sha256, fetched from the first source that gives the right
bytes, refused otherwise with an error naming every source tried."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from microemo.assets import LANDMARKER, AssetError, fetch, find_asset, load_lock, sha256_file


def test_installed_landmarker_matches_the_pin():
    pin = load_lock()[LANDMARKER]
    assert pin.sha256 == "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
    assert sha256_file(find_asset()) == pin.sha256


def _serve(payloads: dict[str, bytes]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = payloads.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _lock(tmp_path: Path, data: bytes, urls: list[str]) -> Path:
    lock = tmp_path / "assets.lock.json"
    lock.write_text(
        json.dumps(
            {
                "lock_version": 1,
                "assets": {
                    "thing.bin": {
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "urls": urls,
                    }
                },
            }
        )
    )
    return lock


def test_fetch_skips_a_source_with_wrong_bytes_and_verifies_the_next(tmp_path):
    good = b"model bytes" * 100
    server, base = _serve({"/bad": b"tampered", "/good": good})
    try:
        lock = _lock(tmp_path, good, [f"{base}/bad", f"{base}/good"])
        path = fetch("thing.bin", tmp_path / "dest", lock_file=lock, timeout=5)
    finally:
        server.shutdown()
    assert path.read_bytes() == good
    assert not list((tmp_path / "dest").glob("*.part"))


def test_fetch_failure_names_every_source_and_leaves_no_file(tmp_path):
    server, base = _serve({"/bad": b"tampered"})
    try:
        lock = _lock(tmp_path, b"the real thing", [f"{base}/bad", f"{base}/missing"])
        with pytest.raises(AssetError) as err:
            fetch("thing.bin", tmp_path / "dest", lock_file=lock, timeout=5)
    finally:
        server.shutdown()
    msg = str(err.value)
    assert f"{base}/bad" in msg and "does not match" in msg
    assert f"{base}/missing" in msg and "404" in msg
    assert not (tmp_path / "dest" / "thing.bin").exists()


def test_missing_asset_says_what_to_run(tmp_path):
    with pytest.raises(AssetError, match="make setup"):
        find_asset("face_landmarker.task", tmp_path / "nowhere.task")
