"""On aarch64 the MediaPipe that runs depends on the CPU: a Pi 5 (Cortex-A76) runs MediaPipe
1.x, a Pi 4 (Cortex-A72) none of it (docs/arm64.md). What the boards' /proc/cpuinfo says
(tests/data/cpuinfo: the hardware cannot exist here) picks the pin deploy/venv.sh installs,
and a 1.x MediaPipe on a CPU that cannot run it is refused by `config check` with what to do
instead of dying with SIGILL when the landmarker is created."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from microemo.platform import (
    PlatformError,
    aarch64_constraints,
    check_mediapipe_cpu,
    cpu_features,
    pinned_mediapipe,
)

REPO = Path(__file__).resolve().parents[1]
CPUINFO = REPO / "tests" / "data" / "cpuinfo"
PI5 = cpu_features((CPUINFO / "pi5.txt").read_text())
PI4 = cpu_features((CPUINFO / "pi4.txt").read_text())


def test_the_boards_cpus_are_read_from_their_cpuinfo():
    assert {"atomics", "asimddp", "lrcpc", "fphp", "aes"} <= PI5
    assert {"fp", "asimd", "evtstrm", "crc32", "cpuid"} == PI4
    # what an emulated aarch64 program reads under qemu-user: the host's x86 file
    assert cpu_features("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2\n") == set()


def test_a_pi5_gets_mediapipe_1_and_a_pi4_the_0_10_pin():
    pi5 = aarch64_constraints("aarch64", PI5)
    pi4 = aarch64_constraints("aarch64", PI4)
    assert pi5 is not None and pi5.name == "aarch64.txt"
    assert pi4 is not None and pi4.name == "aarch64-v8.0.txt"
    assert aarch64_constraints("aarch64", frozenset()) == pi4  # unknown CPU: the safe pin
    assert aarch64_constraints("x86_64", PI4) is None
    v5, v4 = pinned_mediapipe(pi5), pinned_mediapipe(pi4)
    assert v5 is not None and int(v5.split(".")[0]) >= 1
    # a 1.x pin where 1.x cannot run would bring back the SIGILL on every Pi 4
    assert v4 is not None and v4.startswith("0.10.")
    assert "numpy<2" in pi4.read_text()  # mediapipe 0.10 requires it


def test_mediapipe_1_on_a_pi4_is_refused_with_what_to_do():
    version = md.version("mediapipe")
    if int(version.split(".")[0]) < 1:
        pytest.skip(f"this venv has mediapipe {version}, which runs on any ARMv8")
    with pytest.raises(PlatformError) as exc:
        check_mediapipe_cpu("aarch64", PI4)
    msg = str(exc.value)
    assert f"mediapipe {version} is built for ARMv8.2" in msg and "lse" in msg
    assert "deploy/install.sh" in msg and "pins mediapipe 0.10." in msg
    assert "deploy/constraints/aarch64-v8.0.txt" in msg
    check_mediapipe_cpu("aarch64", PI5)  # a Pi 5 runs it
    check_mediapipe_cpu("x86_64", PI4)  # and nothing is said off aarch64
    check_mediapipe_cpu("aarch64", frozenset())  # nor where the CPU cannot be read


def test_venv_sh_asks_for_the_pin_before_microemo_is_installed():
    """deploy/venv.sh runs platform.py with a Python that has no microemo yet (-I keeps the
    script's folder, whose types.py shadows the standard library's, off sys.path)."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    script = REPO / "device" / "microemo" / "platform.py"
    r = subprocess.run(
        [python, "-I", str(script), "--constraints"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and r.stderr == ""
    expected = aarch64_constraints(
        subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip(),
        cpu_features(Path("/proc/cpuinfo").read_text()),
    )
    assert r.stdout.strip() == (str(expected) if expected else "")
