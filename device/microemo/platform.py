"""Which OpenCV this process imports, and what a missing native library means.

Exactly one OpenCV must own ``cv2``: the headless pip build on a Pi, a desktop and in CI,
JetPack's system build (with GStreamer) on a Jetson (``deploy/venv.sh`` says why and how).
``inspect_opencv()`` imports ``cv2`` and reports where it came from, its version, whether it
is headless and which video back-ends it has; it refuses, with what to do, a ``cv2`` that
two distributions share (the last installed wins, removing either breaks it) or one that
does not import. ``python -m microemo.platform`` prints the report (exit 2 when refused).

``native_library_hint()`` turns "libEGL.so.1: cannot open shared object file" into the apt
package to install: MediaPipe's native library needs libEGL and libGLESv2 even on the CPU.

On aarch64 the MediaPipe that runs depends on the CPU: ``aarch64_constraints()`` names the
pip constraints file in ``deploy/constraints/`` for this CPU (``deploy/venv.sh`` asks for it
with ``python -I device/microemo/platform.py --constraints``, before microemo is installed, so
this module imports nothing outside the standard library), ``check_mediapipe_cpu()`` refuses
a MediaPipe whose build this CPU cannot run, and ``runtime_versions()`` says which versions
of the libraries whose builds differ by board this process runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import logging
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# pip's desktop builds (Qt, X11, OpenGL); deploy/opencv-stub's version carries "+microemo"
GUI_BUILDS = frozenset({"opencv-python", "opencv-contrib-python"})
REINSTALL = (
    "reinstall so that one headless OpenCV is left: `make setup` in a checkout, "
    "`sudo deploy/install.sh` on a device (both run deploy/venv.sh)"
)
# shared libraries a minimal Debian / Raspberry Pi OS Lite lacks -> the apt package
APT_PACKAGES = {
    "libEGL.so.1": "libegl1",
    "libGLESv2.so.2": "libgles2",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libX11.so.6": "libx11-6",
    "libxcb.so.1": "libxcb1",
    "libgomp.so.1": "libgomp1",
}
# MediaPipe's aarch64 wheels from 1.0 on are built for ARMv8.2-A with these extensions and
# stop at start ("This binary was compiled with lse enabled, but this feature is not
# available on this processor", then SIGILL) on a CPU without them, such as the Pi 4's
# Cortex-A72: the extension -> its name in /proc/cpuinfo's Features (docs/arm64.md)
MEDIAPIPE_1_AARCH64 = {
    "aes": "aes",
    "crc": "crc32",
    "dotprod": "asimddp",
    "fp16": "fphp",
    "lse": "atomics",
    "rcpc": "lrcpc",
    "rdm": "asimdrdm",
    "sha2": "sha2",
}
CONSTRAINTS = Path(__file__).resolve().parents[2] / "deploy" / "constraints"
_MISSING_LIB = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*): cannot open shared object file")


class PlatformError(RuntimeError):
    """This machine cannot run microemo as installed; the message says what to do."""


@dataclass(frozen=True)
class OpenCV:
    """The ``cv2`` this process imports."""

    path: Path  # the cv2 package (or module file)
    version: str
    owners: tuple[str, ...]  # "name version" of the pip distributions whose files these are
    gui: str  # GUI back-end from the build information; "NONE" for headless builds
    gstreamer: bool
    ffmpeg: bool
    v4l2: bool

    @property
    def headless(self) -> bool:
        return self.gui.upper() in ("NONE", "")

    def describe(self) -> str:
        origin = ", ".join(self.owners) or "the system (no pip distribution)"
        kind = "headless" if self.headless else f"GUI {self.gui}"
        yes = {True: "yes", False: "no"}
        return (
            f"OpenCV {self.version} from {origin} at {self.path}: {kind}, "
            f"GStreamer {yes[self.gstreamer]}, FFmpeg {yes[self.ffmpeg]}, V4L2 {yes[self.v4l2]}"
        )


def build_flags(info: str) -> dict[str, str]:
    """``cv2.getBuildInformation()`` as {lower-case key: value} (first occurrence wins)."""
    flags: dict[str, str] = {}
    for line in info.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key and key.lower() not in flags:
            flags[key.lower()] = value.strip()
    return flags


def cv2_owners(site_dir: Path) -> list[str]:
    """Distributions installed in ``site_dir`` whose recorded files include ``cv2/``. Only
    OpenCV's (by name, or by a ``cv2`` top-level package) have their file lists read: a venv
    with TensorFlow has hundreds of long ones."""
    owners = []
    for dist in md.distributions(path=[str(site_dir)]):
        name = dist.metadata["Name"] or ""
        top = (dist.read_text("top_level.txt") or "").split()
        if "opencv" not in name.lower() and "cv2" not in top:
            continue
        if any(f.parts and f.parts[0] == "cv2" for f in dist.files or ()):
            owners.append(f"{name} {dist.version}")
    return sorted(owners)


def _located() -> Path:
    spec = importlib.util.find_spec("cv2")
    if spec is None:
        raise PlatformError(
            f"no OpenCV (cv2) in {sys.prefix}: {REINSTALL}; on a Jetson install JetPack's "
            "OpenCV (`sudo apt install nvidia-opencv`) and use a venv made with "
            "--system-site-packages"
        )
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(str(spec.origin))  # a single-file module (Debian's python3-opencv)


def _import_failed(path: Path, owners: list[str], exc: BaseException) -> PlatformError:
    first = first_line(exc)
    gui = [o for o in owners if o.split()[0].lower() in GUI_BUILDS and "+microemo" not in o]
    if gui:
        what = f"{gui[0]} is the desktop build, which needs X11 and OpenGL libraries: {REINSTALL}"
    else:
        what = native_library_hint(exc) or REINSTALL
    return PlatformError(f"cv2 at {path} does not import ({first}): {what}")


def inspect_opencv() -> OpenCV:
    """Import ``cv2`` and report on it; ``PlatformError`` for a shared or broken one."""
    path = _located()
    owners = cv2_owners(path.parent)
    if len(owners) > 1:
        raise PlatformError(
            f"{' and '.join(owners)} both own {path}: the one installed last wins and "
            f"removing either breaks cv2: {REINSTALL}"
        )
    try:
        cv2 = importlib.import_module("cv2")
    except (ImportError, OSError) as exc:
        raise _import_failed(path, owners, exc) from exc
    flags = build_flags(cv2.getBuildInformation())
    return OpenCV(
        path=path,
        version=str(getattr(cv2, "__version__", "?")),
        owners=tuple(owners),
        gui=flags.get("gui", "NONE").split()[0] if flags.get("gui") else "NONE",
        gstreamer=flags.get("gstreamer", "NO").upper().startswith("YES"),
        ffmpeg=flags.get("ffmpeg", "NO").upper().startswith("YES"),
        v4l2=flags.get("v4l/v4l2", "NO").upper().startswith("YES"),
    )


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (native libraries write pages), or its type."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def native_library_hint(exc: BaseException) -> str | None:
    """ "install libegl1 ..." when ``exc`` says a shared library is missing, else None."""
    m = _MISSING_LIB.search(str(exc))
    if m is None:
        return None
    lib = m.group(1)
    package = APT_PACKAGES.get(lib)
    how = f"`sudo apt install {package}`" if package else f"install the package that has {lib}"
    return f"{lib} is missing: {how} (deploy/install.sh installs what microemo needs)"


def cpu_features(cpuinfo: str) -> frozenset[str]:
    """An aarch64 CPU's features from the text of its /proc/cpuinfo (the first "Features"
    line); empty elsewhere, and under qemu-user, which shows the host's file."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Features":
            return frozenset(value.split())
    return frozenset()


def this_cpu() -> frozenset[str]:
    try:
        return cpu_features(Path("/proc/cpuinfo").read_text())
    except OSError:
        return frozenset()


def lacks_for_mediapipe_1(features: frozenset[str]) -> list[str]:
    """The extensions MediaPipe 1.x's aarch64 build needs that ``features`` lacks."""
    return [ext for ext, name in MEDIAPIPE_1_AARCH64.items() if name not in features]


def aarch64_constraints(machine: str, features: frozenset[str]) -> Path | None:
    """The pip constraints for MediaPipe on this CPU (None off aarch64): the 1.x pin where
    the CPU has what 1.x needs, else the 0.10 pin, which runs on any ARMv8 (also when the
    features are unknown)."""
    if machine not in ("aarch64", "arm64"):
        return None
    return CONSTRAINTS / ("aarch64-v8.0.txt" if lacks_for_mediapipe_1(features) else "aarch64.txt")


def pinned_mediapipe(constraints: Path) -> str | None:
    """The ``mediapipe==X`` version a constraints file pins, if it can be read."""
    try:
        m = re.search(r"^mediapipe==(\S+)", constraints.read_text(), re.MULTILINE)
    except OSError:
        return None
    return m.group(1) if m else None


def _installed(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def check_mediapipe_cpu(machine: str | None = None, features: frozenset[str] | None = None) -> None:
    """``PlatformError`` for a MediaPipe whose aarch64 build this CPU cannot run: it would
    kill the process with SIGILL when the landmarker is created, after a line that names no
    remedy. Unknown features (no /proc/cpuinfo) are not refused."""
    machine = machine or platform.machine()
    features = this_cpu() if features is None else features
    version = _installed("mediapipe")
    if machine not in ("aarch64", "arm64") or not features or version is None:
        return
    lacks = lacks_for_mediapipe_1(features)
    if not lacks or int(version.split(".")[0]) < 1:
        return
    pin = aarch64_constraints(machine, features)
    assert pin is not None
    raise PlatformError(
        f"mediapipe {version} is built for ARMv8.2 CPUs and this one lacks {', '.join(lacks)} "
        f"(a Raspberry Pi 4's Cortex-A72 does): it would stop with SIGILL; reinstall with "
        f"deploy/install.sh, which pins mediapipe {pinned_mediapipe(pin) or '0.10'} for this "
        f"CPU ({pin.parent.parent.name}/{pin.parent.name}/{pin.name})"
    )


def runtime_versions(opencv: OpenCV, machine: str | None = None) -> str:
    """The versions of the libraries whose builds differ by board ("mediapipe 1.2.3, numpy
    2.4.6, opencv 5.1.0, litert 2.3.0 on aarch64"), and on aarch64 what pins MediaPipe."""
    machine = machine or platform.machine()
    mp, litert = _installed("mediapipe"), _installed("ai-edge-litert")
    parts = [
        f"mediapipe {mp or 'not installed'}",
        f"numpy {_installed('numpy') or 'not installed'}",
        f"opencv {opencv.version}",
        f"litert {litert}"
        if litert
        else f"tflite-runtime {_installed('tflite-runtime')}"
        if _installed("tflite-runtime")
        else "litert not installed",
    ]
    line = ", ".join(parts) + f" on {machine}"
    pin = aarch64_constraints(machine, this_cpu())
    if pin is not None:
        want = pinned_mediapipe(pin)
        how = "as" if want == mp else f"where {want} is"
        line += f" (mediapipe {how} pinned for this CPU by deploy/constraints/{pin.name})"
    return line


def main(argv: list[str] | None = None) -> int:
    """``--constraints``: print the pip constraints file for this CPU (nothing off aarch64);
    else say which OpenCV and library versions this process runs (exit 2 when refused)."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--constraints"]:
        pin = aarch64_constraints(platform.machine(), this_cpu())
        if pin is not None:
            print(pin)
        return 0
    try:
        opencv = inspect_opencv()
        print(opencv.describe())
        print(runtime_versions(opencv))
        check_mediapipe_cpu()
    except PlatformError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
