"""Build the group pictures in this folder from the CREMA-D clips (see README.md).

The clips are shot against a green screen, so the actor is keyed out of a frame and pasted,
scaled, at several places on a plain room-like background: a kiosk camera's view of several
people at one to three metres. Writes ``<name>.jpg`` and ``<name>.json`` (each face's box in
pixels, as pasted). Run from the repository root:
``.venv/bin/python tests/data/group/make_group.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CLIPS = HERE.parent / "crema_d" / "clips"
# the actor's face in the 480x360 clips as the landmarker sees it: cheek to cheek (landmarks
# 234-454) 94 px, landmarks centred at (218, 144), brow to chin 1.3 face widths
FACE_W, FACE_C = 94.0, (218.0, 144.0)

# name -> canvas size, [(clip emotion, frame index, face width px, face centre x, y, mirror)]
SCENES: dict[str, tuple[tuple[int, int], list[tuple[str, int, int, int, int, bool]]]] = {
    # five people facing the camera, one near (about 1 m) and four at two to three metres
    "group5": (
        (1000, 667),
        [
            ("HAP", 30, 150, 520, 250, False),
            ("NEU", 30, 80, 200, 200, True),
            ("ANG", 30, 62, 800, 180, False),
            ("SAD", 30, 50, 350, 160, True),
            ("FEA", 30, 40, 660, 150, False),
        ],
    ),
    # six people, all far (faces 40 to 70 px), some near the edges of the picture
    "group6_far": (
        (1000, 667),
        [
            ("NEU", 20, 70, 120, 260, False),
            ("HAP", 40, 60, 330, 230, True),
            ("DIS", 25, 55, 520, 200, False),
            ("SAD", 35, 48, 700, 240, True),
            ("ANG", 45, 44, 880, 190, False),
            ("FEA", 20, 42, 215, 120, True),
        ],
    ),
}


def _frame(emotion: str, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(CLIPS / f"1001_DFA_{emotion}_XX.flv"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise SystemExit(f"cannot read frame {index} of the {emotion} clip")
    return img


def _matte(img: np.ndarray) -> np.ndarray:
    """Alpha 0-1 of the actor: everything that is not the green screen, edges softened."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    green = cv2.inRange(hsv, (35, 60, 40), (90, 255, 255))
    alpha = 255 - cv2.morphologyEx(green, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    return cv2.GaussianBlur(alpha, (5, 5), 0).astype(np.float32) / 255.0


def _despill(img: np.ndarray) -> np.ndarray:
    b, g, r = cv2.split(img.astype(np.int16))
    g = np.minimum(g, np.maximum(r, b))  # green reflected on skin and hair
    return cv2.merge([b, g, r]).clip(0, 255).astype(np.uint8)


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A wall, a floor and a few panels: something that is not a flat colour."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    wall = np.array([170, 180, 190], np.float32) * (0.85 + 0.15 * y)
    img = np.broadcast_to(wall, (h, w, 3)).copy()
    img[int(h * 0.72) :] = np.array([90, 105, 125], np.float32)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 120)), int(rng.integers(0, int(h * 0.6)))
        colour = rng.integers(60, 220, 3).astype(np.float32)
        colour[1] = min(colour[1], colour[2])  # no green panels: that was the screen
        img[y0 : y0 + int(rng.integers(60, 200)), x0 : x0 + int(rng.integers(60, 220))] = colour
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return cv2.GaussianBlur(img.clip(0, 255).astype(np.uint8), (7, 7), 0)


def _paste(canvas: np.ndarray, person: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    h, w = canvas.shape[:2]
    ph, pw = person.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + pw, w), min(y + ph, h)
    if x1 <= x0 or y1 <= y0:
        return
    p = person[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (a * p + (1 - a) * region).astype(np.uint8)


def build(name: str) -> tuple[np.ndarray, list[dict[str, object]]]:
    (w, h), people = SCENES[name]
    rng = np.random.default_rng(12)
    canvas = _background(w, h, rng)
    faces = []
    # far people first, so nearer ones are pasted over them
    for emo, index, face_w, cx, cy, mirror in sorted(people, key=lambda p: p[2]):
        img = _frame(emo, index)
        alpha = _matte(img)
        img = _despill(img)
        fx = FACE_C[0]
        if mirror:
            img, alpha, fx = img[:, ::-1], alpha[:, ::-1], img.shape[1] - 1 - FACE_C[0]
        s = face_w / FACE_W
        size = (round(img.shape[1] * s), round(img.shape[0] * s))
        person = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
        matte = cv2.resize(np.ascontiguousarray(alpha), size, interpolation=cv2.INTER_AREA)
        x, y = round(cx - fx * s), round(cy - FACE_C[1] * s)
        extra = h - (y + size[1])
        if extra > 0:  # the clip ends at mid-chest: carry the body down to the floor
            person = cv2.copyMakeBorder(person, 0, extra, 0, 0, cv2.BORDER_REPLICATE)
            matte = cv2.copyMakeBorder(matte, 0, extra, 0, 0, cv2.BORDER_REPLICATE)
        _paste(canvas, person, matte, x, y)
        half = face_w / 2
        faces.append({"clip": emo, "box": [cx - half, cy - 1.3 * half, face_w, 2.6 * half]})
    return canvas, sorted(faces, key=lambda f: f["box"][0])  # type: ignore[index]


def main() -> None:
    for name in SCENES:
        img, faces = build(name)
        cv2.imwrite(str(HERE / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 88])
        (HERE / f"{name}.json").write_text(json.dumps({"faces": faces}, indent=1) + "\n")
        print(f"{name}.jpg: {img.shape[1]}x{img.shape[0]}, {len(faces)} faces")


if __name__ == "__main__":
    main()
