"""Update commands from a careless operator and a hostile network, through a real Mosquitto
to the daemon's own update wiring: each gets a status on the retained ``model/status`` (or,
for a command already handled, deliberately none), nothing unverified is echoed at length,
no traceback reaches the log, and v1 keeps running until a good command replaces it."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests import mosquitto
from update_field import CMD, Field, StaticServer, TricklingServer
from update_kit import Kit

from microemo_train.signing import chunk_payloads, sign_message, update_message

pytestmark = pytest.mark.broker


@pytest.fixture
def www(tmp_path: Path) -> Iterator[StaticServer]:
    server = StaticServer(tmp_path / "www")
    yield server
    server.close()


@pytest.fixture
def field(kit: Kit, tmp_path: Path) -> Iterator[Field]:
    f = Field(kit, tmp_path, download_timeout_s=0.5)
    yield f
    f.close()


def good_update(kit: Kit, www: StaticServer) -> dict:
    return update_message(kit.v2, www.root / "v2.tar.gz", kit.key, url=f"{www.base}/v2.tar.gz")


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_trickling_server_is_cut_off_and_the_next_command_runs(
    kit: Kit, field: Field, www: StaticServer, tmp_path: Path, in_headers: bool
) -> None:
    slow = TricklingServer(gap_s=0.2, in_headers=in_headers)
    try:
        msg = update_message(kit.v2, tmp_path / "v2.tgz", kit.key, url=slow.url)
        status = field.command(msg)  # 0.5 s per read, 5 s for the whole transfer
    finally:
        slow.close()
    assert status["step"] == "failed" and status["retry"] is True, status
    assert "not complete after 5 s" in status["reason"]
    assert status["running"]["version"] == "1.0.0"
    field.assert_running("1.0.0")
    assert field.command(good_update(kit, www))["step"] == "live"
    field.assert_running("2.0.0")


def test_far_future_command_is_refused_and_blocks_nothing(
    kit: Kit, field: Field, www: StaticServer
) -> None:
    future = sign_message({"type": "rollback", "issued": "2099-01-01T00:00:00Z"}, kit.key)
    status = field.command(future)
    assert status["step"] == "refused" and "ahead of this device's clock" in status["reason"]
    field.assert_running("1.0.0")
    assert field.command(good_update(kit, www))["step"] == "live"
    field.assert_running("2.0.0")


def test_a_poisoned_replay_mark_from_an_older_version_is_ignored(
    kit: Kit, tmp_path: Path, www: StaticServer
) -> None:
    marks = tmp_path / "state" / "models" / "last_command.json"
    marks.parent.mkdir(parents=True)
    marks.write_text(json.dumps({"issued": 4070908800.0}))  # 2099, accepted before the fix
    f = Field(kit, tmp_path)
    try:
        assert f.command(good_update(kit, www))["step"] == "live"
        f.assert_running("2.0.0")
    finally:
        f.close()


def test_why_a_command_is_ignored_is_said_and_a_redelivery_is_quiet(
    kit: Kit, field: Field, www: StaticServer
) -> None:
    msg = good_update(kit, www)
    assert field.command(msg)["step"] == "live"
    older = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    status = field.command(sign_message({"type": "rollback", "issued": older}, kit.key))
    assert status["step"] == "ignored" and "not newer than the last command" in status["reason"]
    assert status["running"]["version"] == "2.0.0"
    # the same command again (a retained command at a reconnect): no status of its own
    seen = len(field.statuses())
    field.publish(CMD, msg)
    forged = {**sign_message({"type": "rollback"}, kit.key), "allow_downgrade": True}
    field.publish(CMD, forged)  # handled after it, in order
    assert "signature does not verify" in field.final_after(seen)["reason"]
    assert [s["step"] for s in field.statuses()[seen:]] == ["refused"]
    field.assert_running("2.0.0")


def test_a_command_that_failed_for_now_runs_when_sent_again(
    kit: Kit, field: Field, www: StaticServer, tmp_path: Path
) -> None:
    """The command went out before its archive was uploaded: 404, then uploaded, then the
    operator publishes the same command again."""
    url = f"{www.base}/v2.tar.gz"
    msg = update_message(kit.v2, tmp_path / "v2.tar.gz", kit.key, url=url)
    status = field.command(msg)
    assert status["step"] == "failed" and status["retry"] is True
    assert "download failed" in status["reason"] and "404" in status["reason"]
    shutil.copy(tmp_path / "v2.tar.gz", www.root / "v2.tar.gz")
    assert field.command(msg)["step"] == "live"
    field.assert_running("2.0.0")


def test_unverified_fields_are_not_echoed(
    kit: Kit, field: Field, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    huge = {"type": "update", "name": "N" * 5_000_000, "version": "9", "signature": "AAAA"}
    status = field.command(huge)
    assert status["step"] == "refused" and "bytes, over" in status["reason"]
    nasty = {"type": "update", "name": "\x1b[2J" + "n" * 10_000, "version": "v" * 3000,
             "issued": "\x07" * 500, "signature": "AAAA"}  # fmt: skip
    status = field.command(nasty)
    assert status["step"] == "refused" and "signature" in status["reason"]
    assert len(status["command"]["name"]) < 100 and "\x1b" not in status["command"]["name"]
    assert max(len(p) for p in field.raw_statuses()) < 1500
    assert len(field.retained_status()) < 1500  # what every reconnect re-sends
    assert max(len(r.getMessage()) for r in caplog.records) < 1500
    assert not any("\x1b" in r.getMessage() or "\x07" in r.getMessage() for r in caplog.records)


def test_junk_under_cmd_does_not_break_a_chunked_update(kit: Kit, tmp_path: Path) -> None:
    f = Field(kit, tmp_path, max_bundle_bytes=200_000, download_timeout_s=3)
    try:
        for i in range(5):  # 500 KB of retained junk, 2.5 x the bundle limit
            f.publish(f"{CMD}/junk/{i}", b"x" * 100_000, retain=True)
        base = f"{CMD}/chunks/v2"
        msg = update_message(kit.v2, tmp_path / "v2.tgz", kit.key, chunks_topic=base,
                             chunk_size=4000)  # fmt: skip
        chunks = chunk_payloads(tmp_path / "v2.tgz", base, 4000)
        assert len(chunks) >= 3
        for topic, data in chunks[:1] + chunks[2:]:  # chunk 1 is missing at first
            f.publish(topic, data, retain=True)
        status = f.command(msg, retain=True)
        assert status["step"] == "failed" and status["retry"] is True
        assert f"1 of {len(chunks)} chunks did not arrive" in status["reason"]
        assert "(missing 1)" in status["reason"]
        f.publish(*chunks[1], retain=True)
        assert f.command(msg, retain=True)["step"] == "live"  # the broker re-sends the rest
        f.assert_running("2.0.0")
    finally:
        f.close()


def test_chunks_past_the_size_limit_are_named_as_the_cause(kit: Kit, tmp_path: Path) -> None:
    f = Field(kit, tmp_path, max_bundle_bytes=40_000)
    try:
        big = kit.bundle("big", kit.model_b, "3.0.0", padding=60_000)
        base = f"{CMD}/chunks/v3"
        msg = update_message(big, tmp_path / "v3.tgz", kit.key, chunks_topic=base,
                             chunk_size=8000)  # fmt: skip
        for topic, data in chunk_payloads(tmp_path / "v3.tgz", base, 8000):
            f.publish(topic, data, retain=True)
        status = f.command(msg)
        assert status["step"] == "refused"
        assert "more than model.max_bundle_bytes=40000" in status["reason"]
        f.assert_running("1.0.0")
    finally:
        f.close()


def malformed(kit: Kit) -> list[bytes]:
    base = {"type": "update", "name": "test-core", "version": "2.0.0", "sha256": "0" * 64}
    signed = [
        {**base, "chunks": {"topic": f"{CMD}/c", "count": "many"}},
        {**base, "chunks": "nope"},
        {**base, "url": 5},
        {**base, "name": ["a"], "url": "http://127.0.0.1:9/x"},
        {**base, "chunks": {"topic": "elsewhere/c", "count": 1}},
        {"type": "teleport"},
        {"type": "rollback", "issued": "yesterday"},
        {"type": "rollback", "issued": 12},
        {"type": "update", "url": "http://127.0.0.1:9/x"},
    ]
    return [
        b"[" * 100_000,
        b"[" * 3000,
        b"\xff\xfe\x00junk",
        b"null",
        b"[1, 2]",
        b'"text"',
        b"{",
        b'{"type": "update"}',
        *(json.dumps(sign_message(m, kit.key)).encode() for m in signed),
    ]


def test_every_malformed_payload_is_refused_without_a_traceback(
    kit: Kit, field: Field, www: StaticServer, caplog: pytest.LogCaptureFixture
) -> None:
    payloads = malformed(kit)
    for payload in payloads:
        status = field.command(payload)
        assert status["step"] == "refused" and status["ok"] is False, (payload[:60], status)
        assert "internal error" not in status["reason"]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    field.assert_running("1.0.0")
    assert field.command(good_update(kit, www))["step"] == "live"


def test_clearing_a_retained_command_is_not_a_command(
    kit: Kit, field: Field, www: StaticServer
) -> None:
    assert field.command(good_update(kit, www), retain=True)["step"] == "live"
    seen = len(field.statuses())
    pub = mosquitto.tool("mosquitto_pub")
    assert pub is not None
    port = str(field.broker.port)
    subprocess.run([pub, "-p", port, "-t", CMD, "-q", "1", "-r", "-n"], check=True)
    field.publish(CMD, b"[1]")  # handled after the clear, in order
    status = field.final_after(seen)
    assert "JSON list" in status["reason"]
    assert len(field.statuses()) == seen + 1
    field.assert_running("2.0.0")
