"""Poorer cameras for a benchmark (``emotion-bench --camera``): every input copied as a lesser
camera would have taken it, so the same faces can be read again and compared face by face
with the clean run (``--against``).

Each camera is ``KIND`` or ``KIND=VALUE``:

- ``half[=SCALE]``: a lower resolution, the picture resized by SCALE (default 0.5);
- ``jpeg[=QUALITY]``: strong compression, the picture as a JPEG of that quality (default 30);
- ``noise[=SIGMA]``: sensor noise, Gaussian, SIGMA grey levels a pixel and channel (default 8);
- ``dark[=GAIN]``: a dim exposure, the light GAIN times what it was with the shadows darkened
  more (levels ** 1.5), back to 8 bits, so the levels a dim exposure loses are lost
  (default 0.5);
- ``blur[=PERCENT]``: a soft or out-of-focus lens, a Gaussian blur whose sigma is PERCENT % of
  the picture's shorter side (default 0.6: about 2 px on a 320 px picture);
- ``glasses[=TINT]``: eyeglasses drawn on the face the landmarker finds, lenses stopping TINT
  of the light (default 0: clear glasses, the frames only; 0.85 sunglasses;
  ``microemo_train/glasses.py``).

A copy is the same for every run and machine (noise is drawn from the input's name), so two
runs with the same camera read the same pictures. Stills are written as PNG (lossless: a ``jpeg``
copy is exactly the JPEG's decoded picture), frame folders frame by frame, videos as lossless
FFV1 at their own frame rate; each keeps its name, so the copy's reading is matched with the
original's by ``--against``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from microemo.sources.files import IMAGE_EXTS
from microemo_train.emotion_bench.inputs import BenchInputError, LabelledInput, input_kind

# kind: (default value, lowest, highest, what the value is)
KINDS: dict[str, tuple[float, float, float, str]] = {
    "half": (0.5, 0.05, 0.99, "a scale"),
    "jpeg": (30, 1, 100, "a JPEG quality"),
    "noise": (8.0, 0.5, 64, "grey levels"),
    "dark": (0.5, 0.05, 0.99, "a gain"),
    "blur": (0.6, 0.05, 5, "a percent of the shorter side"),
    "glasses": (0.0, 0.0, 1.0, "a lens tint"),
}


SUFFIX = {"still": ".png", "video": ".mkv"}  # a copy's file: lossless either way


@dataclass(frozen=True)
class Camera:
    kind: str
    value: float

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.value:g}"

    @classmethod
    def from_name(cls, name: str) -> Camera:
        """The camera ``name`` names (``dark-0.5``)."""
        kind, _, value = name.partition("-")
        return cls.parse(f"{kind}={value}")

    @classmethod
    def parse(cls, spec: str, option: str = "--camera") -> Camera:
        """The camera ``spec`` (``KIND[=VALUE]``) names; a bad one is refused naming
        ``option``, the command-line option it came from."""
        kind, sep, text = spec.strip().lower().partition("=")
        if kind not in KINDS:
            raise BenchInputError(
                f"{option} {spec!r}: unknown camera {kind!r}; use one of {', '.join(KINDS)} "
                f"(e.g. {option} dark or {option} jpeg=30)"
            )
        default, low, high, what = KINDS[kind]
        try:
            value = float(text) if sep else default
        except ValueError:
            raise BenchInputError(
                f"{option} {spec!r}: {text!r} is not a number ({kind} takes {what})"
            ) from None
        if not low <= value <= high:
            raise BenchInputError(
                f"{option} {spec!r}: {kind} takes {what} from {low:g} to {high:g}"
            )
        return cls(kind, value)

    def take(self, image: np.ndarray, seed: int) -> np.ndarray:
        """``image`` (8-bit BGR or grey) as this camera takes it."""
        if self.kind == "half":
            h, w = image.shape[:2]
            size = (max(1, round(w * self.value)), max(1, round(h * self.value)))
            return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        if self.kind == "jpeg":
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
            if not ok:
                raise BenchInputError("OpenCV could not encode a JPEG")
            flag = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
            return np.asarray(cv2.imdecode(buf, flag))
        if self.kind == "noise":
            noise = np.random.default_rng(seed).normal(0.0, self.value, image.shape)
            return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)
        if self.kind == "dark":
            x = 255.0 * (image / 255.0) ** 1.5 * self.value
            return np.rint(x).astype(np.uint8)
        if self.kind == "glasses":
            from microemo_train.glasses import wear

            return wear(image, self.value)
        sigma = self.value / 100.0 * min(image.shape[:2])
        return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma))


class _Unreadable(BenchInputError):
    """An input OpenCV cannot read: copied as it is, for analyze to name."""


def frame_seed(key: str) -> int:
    """The noise seed of the picture named ``key``: the same copy on every run and machine."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise _Unreadable(f"{path}: not a picture OpenCV can read")
    return np.asarray(image)


def _write(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise BenchInputError(f"{path}: cannot write it (is the --out folder writable?)")


def _copy_video(src: Path, dst: Path, camera: Camera, key: str) -> None:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            out = camera.take(frame, frame_seed(f"{key}/{i}"))
            if writer is None:
                h, w = out.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"FFV1")
                writer = cv2.VideoWriter(str(dst), fourcc, fps if fps > 0 else 30.0, (w, h))
                if not writer.isOpened():
                    raise BenchInputError(f"{dst}: OpenCV cannot write an FFV1 video here")
            writer.write(out)
            i += 1
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise _Unreadable(f"{src}: no frame could be read from this video")


def copies(inputs: list[LabelledInput], camera: Camera, out: Path) -> list[LabelledInput]:
    """Where each input's copy is under ``out`` (its path below the inputs' common folder,
    a still as ``.png``, a video as ``.mkv``), without making them."""
    root = Path(os.path.commonpath([str(i.path.resolve().parent) for i in inputs]))
    found: dict[Path, Path] = {}
    result = []
    for item in inputs:
        rel = item.path.resolve().relative_to(root)
        kind = input_kind(item.path)
        dst = out / rel if kind == "frames" else out / rel.with_suffix(SUFFIX[str(kind)])
        if dst in found:
            raise BenchInputError(
                f"--camera {camera.name}: {item.path} and {found[dst]} would share one copy "
                f"({dst}): rename one of them"
            )
        found[dst] = item.path
        result.append(dataclasses.replace(item, path=dst))
    return result


def _still(src: Path, dst: Path, camera: Camera, seed: int) -> None:
    try:
        image = _read(src)
    except _Unreadable:  # as it is: analyze names it and the benchmark leaves it out
        shutil.copyfile(src, dst)
        return
    _write(dst, camera.take(image, seed))


def make_copies(
    inputs: list[LabelledInput], camera: Camera, out: Path, progress: Callable[[], None]
) -> list[LabelledInput]:
    """Every input copied under ``out`` as ``camera`` takes it (``copies`` says where); a
    copy already there is made again (it comes out the same). A picture or video that cannot
    be read is copied as it is, so ``microemo analyze`` names it as it would the original."""
    made = copies(inputs, camera, out)
    for item, copy in zip(inputs, made, strict=True):
        key = f"{camera.name}:{item.path.name}"
        copy.path.parent.mkdir(parents=True, exist_ok=True)
        kind = input_kind(item.path)
        if kind == "frames":
            copy.path.mkdir(exist_ok=True)
            frames = sorted(p for p in item.path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
            for i, frame in enumerate(frames):
                _still(
                    frame,
                    copy.path / frame.with_suffix(".png").name,
                    camera,
                    frame_seed(f"{key}/{i}"),
                )
        elif kind == "still":
            _still(item.path, copy.path, camera, frame_seed(key))
        else:
            try:
                _copy_video(item.path, copy.path, camera, key)
            except _Unreadable:
                shutil.copyfile(item.path, copy.path)
        progress()
    return made
