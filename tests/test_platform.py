"""One OpenCV, and the right one: the check that says which cv2 is in use and refuses a broken
mix, on this venv for real and, for what cannot exist here (two distributions sharing cv2, a
desktop build without its libraries, JetPack's system OpenCV), on real Python processes
importing a stand-in cv2 package: the thinnest boundary, the package files themselves."""

from __future__ import annotations

import ctypes
import importlib.metadata as md
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from microemo.platform import inspect_opencv, native_library_hint

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "deploy" / "opencv-stub" / "pyproject.toml"
GST_BUILD = "General configuration for OpenCV 4.8.0\\n  GUI: NONE\\n  Video I/O:\\n    FFMPEG: NO\\n    GStreamer: YES (1.20.3)\\n    v4l/v4l2: YES (linux/videodev2.h)\\n"  # noqa: E501


def fake_cv2(site: Path, body: str = "", owners: tuple[tuple[str, str], ...] = ()) -> None:
    """A cv2 package in ``site`` (its ``__init__`` runs ``body``), with pip metadata saying
    that each of ``owners`` (name, version) installed it."""
    pkg = site / "cv2"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(body)
        + f'\n__version__ = "4.8.0"\ndef getBuildInformation():\n    return "{GST_BUILD}"\n'
    )
    for name, version in owners:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "RECORD").write_text("cv2/__init__.py,,\n")


def check_in(site: Path) -> subprocess.CompletedProcess[str]:
    """``python -m microemo.platform`` with ``site`` first on the path."""
    code = f"import sys; sys.path.insert(0, {str(site)!r}); from microemo.platform import main; "
    return subprocess.run(
        [sys.executable, "-c", code + "sys.exit(main())"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_this_venv_has_one_headless_opencv_and_mediapipe_is_satisfied():
    cv = inspect_opencv()
    assert cv.owners == (f"opencv-python-headless {md.version('opencv-python-headless')}",)
    assert cv.headless and not cv.gstreamer and cv.ffmpeg
    assert cv.path.is_relative_to(sys.prefix)
    assert "headless, GStreamer no" in cv.describe()
    # MediaPipe's requirement is met by the stub (deploy/opencv-stub), not by the desktop build
    stub = md.version("opencv-contrib-python")
    files = md.files("opencv-contrib-python") or []
    assert "+microemo" in stub and all(".dist-info" in f.parts[0] for f in files)
    wanted = [Requirement(r) for r in md.requires("mediapipe") or []]
    contrib = [r for r in wanted if r.name == "opencv-contrib-python"]
    assert all(r.specifier.contains(Version(stub), prereleases=True) for r in contrib), contrib


def test_two_distributions_sharing_cv2_are_refused(tmp_path):
    fake_cv2(
        tmp_path,
        owners=(("opencv-contrib-python", "5.1.0.95"), ("opencv-python-headless", "5.0.0.93")),
    )
    r = check_in(tmp_path)
    assert r.returncode == 2
    assert "opencv-contrib-python 5.1.0.95 and opencv-python-headless 5.0.0.93 both own" in r.stderr
    assert "removing either breaks cv2" in r.stderr and "make setup" in r.stderr


def test_a_desktop_build_without_its_libraries_says_to_reinstall_headless(tmp_path):
    fake_cv2(
        tmp_path,
        'raise ImportError("libGL.so.1: cannot open shared object file: No such file or '
        'directory")',
        owners=(("opencv-contrib-python", "5.1.0.95"),),
    )
    r = check_in(tmp_path)
    assert r.returncode == 2 and "does not import (libGL.so.1" in r.stderr
    assert "opencv-contrib-python 5.1.0.95 is the desktop build" in r.stderr
    assert "one headless OpenCV" in r.stderr and "deploy/install.sh" in r.stderr


def test_a_headless_build_missing_a_library_names_the_apt_package(tmp_path):
    fake_cv2(
        tmp_path,
        'raise ImportError("libgomp.so.1: cannot open shared object file: No such file")',
        owners=(("opencv-python-headless", "5.0.0.93"),),
    )
    r = check_in(tmp_path)
    assert r.returncode == 2 and "sudo apt install libgomp1" in r.stderr


def test_a_missing_native_library_from_a_real_dlopen_names_the_package():
    with pytest.raises(OSError) as err:
        ctypes.CDLL("/nonexistent/dir/libEGL.so.1")
    assert native_library_hint(err.value) == (
        "libEGL.so.1 is missing: `sudo apt install libegl1` (deploy/install.sh installs what "
        "microemo needs)"
    )
    assert native_library_hint(ValueError("something else")) is None


def test_a_jetson_venv_imports_the_system_opencv_with_gstreamer(tmp_path):
    """A venv with no pip OpenCV in it, whose system site-packages hold JetPack's cv2 (no pip
    metadata, GStreamer in its build): the check reports that one, and GStreamer with it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    system = tmp_path / "dist-packages"
    fake_cv2(system)
    site = next((venv / "lib").glob("python3*/site-packages"))
    # like --system-site-packages: after the venv's own packages; microemo from this checkout
    (site / "zz_system.pth").write_text(f"{REPO / 'device'}\n{system}\n")
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "microemo.platform"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    opencv, versions = r.stdout.splitlines()
    assert opencv == (
        f"OpenCV 4.8.0 from the system (no pip distribution) at {system / 'cv2'}: headless, "
        "GStreamer yes, FFmpeg no, V4L2 yes"
    )
    # the system OpenCV's version, and what this bare venv lacks
    assert versions.startswith("mediapipe not installed, numpy not installed, opencv 4.8.0, ")


def declared(requirement_prefix: str, text: str) -> Requirement:
    import tomllib

    deps = tomllib.loads(text)["project"]["dependencies"]
    return next(Requirement(d) for d in deps if d.startswith(requirement_prefix))


@pytest.mark.parametrize(
    ("machine", "release", "pip_opencv"),
    [
        ("aarch64", "5.15.136-tegra", False),  # Jetson Orin Nano, JetPack 6
        ("aarch64", "5.10.120-tegra", False),  # JetPack 5
        ("aarch64", "6.6.51+rpt-rpi-2712", True),  # Raspberry Pi 5, Pi OS Bookworm
        ("x86_64", "6.1.0-28-amd64", True),  # a Debian desktop, CI
    ],
)
def test_pip_installs_headless_opencv_everywhere_but_on_a_jetson(machine, release, pip_opencv):
    env = {**default_environment(), "platform_machine": machine, "platform_release": release}
    ours = declared("opencv-python-headless", (REPO / "pyproject.toml").read_text())
    stub = declared("opencv-python-headless", STUB.read_text())
    assert ours.marker is not None and stub.marker is not None
    assert ours.marker.evaluate(env) is pip_opencv
    assert stub.marker.evaluate(env) is pip_opencv
