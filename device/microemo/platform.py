"""Which OpenCV this process imports, and what a missing native library means.

Exactly one OpenCV must own ``cv2``: the headless pip build on a Pi, a desktop and in CI,
JetPack's system build (with GStreamer) on a Jetson (``deploy/venv.sh`` says why and how).
``inspect_opencv()`` imports ``cv2`` and reports where it came from, its version, whether it
is headless and which video back-ends it has; it refuses, with what to do, a ``cv2`` that
two distributions share (the last installed wins, removing either breaks it) or one that
does not import. ``python -m microemo.platform`` prints the report (exit 2 when refused).

``native_library_hint()`` turns "libEGL.so.1: cannot open shared object file" into the apt
package to install: MediaPipe's native library needs libEGL and libGLESv2 even on the CPU.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import logging
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


def main() -> int:
    try:
        print(inspect_opencv().describe())
    except PlatformError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
