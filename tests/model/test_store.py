"""The device's model store refuses every bad bundle with a reason, keeps the running model
classifying, survives kill -9 during a switch, and rolls back."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from update_kit import Kit, windows

from microemo.model.bundle import BundleError
from microemo.model.runner import CnnClassifier
from microemo.model.selftest import SelfTestError
from microemo.model.store import ModelStore
from microemo_train.signing import load_private_key


def assert_runs(store: ModelStore, version: str) -> None:
    """What the user cares about: the device still starts with ``version`` and classifies."""
    bundle = ModelStore(store.config, default_bundle=store._default).current()
    assert bundle is not None
    assert bundle.manifest.version == version
    probs = CnnClassifier(bundle).predict(windows(1)[0])
    assert probs.shape == (3,) and abs(float(probs.sum()) - 1) < 1e-3


def test_install_switches_and_keeps_previous(kit: Kit, store_with_v1) -> None:
    store = store_with_v1()
    bundle = store.install(kit.v2)
    assert bundle.manifest.version == "2.0.0"
    status = store.status()
    assert status["running"]["version"] == "2.0.0"
    assert status["previous"].startswith("test-core-1.0.0-")
    assert status["last"]["ok"] and status["last"]["timings_ms"]["selftest_windows"] == 4
    assert_runs(store, "2.0.0")
    # installing what already runs is a no-op (a re-delivered command is harmless)
    assert store.install(kit.v2).manifest.version == "2.0.0"
    assert store.rollback().manifest.version == "1.0.0"
    assert_runs(store, "1.0.0")
    assert store.status()["previous"].startswith("test-core-2.0.0-")


def _corrupt_model(kit: Kit, tmp: Path) -> Path:
    b = kit.bundle("corrupt", kit.model_b, "3.0.0")
    data = bytearray((b / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (b / "model.tflite").write_bytes(bytes(data))
    return b


def _wrong_hash(kit: Kit, tmp: Path) -> Path:
    b = kit.bundle("wronghash", kit.model_b, "3.0.0")
    (b / "selftest.npz").write_bytes((b / "selftest.npz").read_bytes() + b"\0")
    return b


def _wrong_signature(kit: Kit, tmp: Path) -> Path:
    b = kit.bundle("wrongsig", kit.model_b, "3.0.0")
    m = json.loads((b / "manifest.json").read_text())
    m["version"] = "9.9.9"  # edited after signing
    (b / "manifest.json").write_text(json.dumps(m))
    return b


def _missing_signature(kit: Kit, tmp: Path) -> Path:
    return kit.bundle("nosig", kit.model_b, "3.0.0", key=None)


def _unknown_key(kit: Kit, tmp: Path) -> Path:
    return kit.bundle("rogue", kit.model_b, "3.0.0", key=kit.rogue)


def _downgrade(kit: Kit, tmp: Path) -> Path:
    return kit.bundle("old", kit.model_b, "0.9.0")


def _newer_runtime(kit: Kit, tmp: Path) -> Path:
    """Signed for a later runtime, with a manifest field this one does not know."""
    b = kit.bundle("newer", kit.model_b, "3.0.0")
    m = json.loads((b / "manifest.json").read_text())
    m["min_runtime"], m["a_later_field"] = "9.1.0", 1.0
    (b / "manifest.json").write_bytes(text := json.dumps(m).encode())
    # signed by hand: sign_bundle checks what it signed with this runtime, which refuses it
    signature = load_private_key(kit.key).sign(text)
    (b / "manifest.json.sig").write_text(base64.b64encode(signature).decode() + "\n")
    return b


def _selftest_fails(kit: Kit, tmp: Path) -> Path:
    return kit.bundle("badselftest", kit.model_b, "3.0.0", break_selftest=True)


def _too_large(kit: Kit, tmp: Path) -> Path:
    return kit.bundle("large", kit.model_b, "3.0.0", padding=200_000)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_corrupt_model, "model.tflite: sha256"),
        (_wrong_hash, "selftest.npz: sha256"),
        (_wrong_signature, "signature does not verify"),
        (_missing_signature, "missing signature"),
        (_unknown_key, "signature does not verify with any trusted key"),
        (_downgrade, "not newer than the running 1.0.0"),
        (_newer_runtime, "needs runtime 9.1.0, this is"),
        (_selftest_fails, "self-test window 0"),
        (_too_large, "over model.max_bundle_bytes=100000"),
    ],
    ids=[
        "corrupt",
        "wrong-hash",
        "wrong-sig",
        "no-sig",
        "unknown-key",
        "downgrade",
        "newer-runtime",
        "selftest",
        "too-large",
    ],
)
def test_bad_bundle_refused_old_keeps_running(kit, store_with_v1, tmp_path, make, reason):
    store = store_with_v1(max_bundle_bytes=100_000)
    with pytest.raises(BundleError, match=reason.replace(".", r"\.")):
        store.install(make(kit, tmp_path))
    status = store.status()
    assert status["last"]["ok"] is False and reason in status["last"]["reason"]
    assert status["running"]["version"] == "1.0.0"
    assert list(store.staging.iterdir()) == []
    assert_runs(store, "1.0.0")


def test_selftest_failure_is_a_selftest_error(kit, store_with_v1):
    store = store_with_v1()
    with pytest.raises(SelfTestError, match="does not run as trained"):
        store.install(kit.bundle("badselftest2", kit.model_b, "3.0.0", break_selftest=True))


def test_downgrade_allowed_when_asked(kit, store_with_v1):
    store = store_with_v1()
    old = kit.bundle("old-ok", kit.model_b, "0.9.0")
    assert store.install(old, allow_downgrade=True).manifest.version == "0.9.0"
    assert_runs(store, "0.9.0")


def test_broken_current_falls_back_to_previous_then_default(kit, store_with_v1):
    store = store_with_v1()
    store.install(kit.v2)
    cur = store.current_link.resolve()
    (cur / "model.tflite").write_bytes(b"rot")  # bit rot on the SD card
    assert_runs(store, "1.0.0")
    (store.previous_link.resolve() / "manifest.json").write_text("{}")
    fallback = ModelStore(store.config, default_bundle=kit.default).current()
    assert fallback is not None and fallback.manifest.name == "builtin"


def test_rollback_without_previous_returns_to_default(kit, store_with_v1):
    store = store_with_v1()
    assert store.rollback().manifest.name == "builtin"
    with pytest.raises(BundleError, match="no installed bundle"):
        store.rollback()


KILL_SCRIPT = """
import sys
from pathlib import Path
from microemo.config import load_config
from microemo.model.store import ModelStore
store = ModelStore(load_config(sys.argv[1]), default_bundle=Path(sys.argv[2]))
store.install(Path(sys.argv[3]))
print("done")
"""

KILL_POINTS = [
    "staged",
    "selftested",
    "stored",
    "link-previous-tmp",
    "previous-linked",
    "link-current-tmp",
    "switched",
]


def test_kill_9_during_switch_leaves_a_valid_model(kit: Kit, tmp_path: Path) -> None:
    """kill -9 at each step of installing v2 over v1; every time the next start runs a
    verified bundle (v1 before the current link moves, v2 after) that classifies."""
    seen = {}
    for point in KILL_POINTS:
        state = tmp_path / point
        store = ModelStore(kit.config(state), default_bundle=kit.default)
        store.install(kit.v1)
        marker = tmp_path / f"{point}.reached"
        env = {**os.environ, "MICROEMO_STORE_PAUSE_AT": f"{point}:{marker}"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILL_SCRIPT,
                str(kit.config_toml(state)),
                str(kit.default),
                str(kit.v2),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            while not marker.exists():
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(30)
        restarted = ModelStore(kit.config(state), default_bundle=kit.default)
        bundle = restarted.current()
        assert bundle is not None and restarted.running_source == "current"
        assert np.isclose(CnnClassifier(bundle).predict(windows(1)[0]).sum(), 1, atol=1e-3)
        seen[point] = bundle.manifest.version
        # the next install after the crash still works and cleans staging
        assert restarted.install(kit.v2).manifest.version == "2.0.0"
        assert list(restarted.staging.iterdir()) == []
    assert seen["link-current-tmp"] == "1.0.0" and seen["switched"] == "2.0.0", seen
