"""A face found in a mirror image, put back: its landmarks, blendshapes and head pose as the
unmirrored picture shows them.

Flipping a picture left to right moves every point of the face to the other side, and the
landmarker then names each point by the side it now sits on: the mirror image's landmark 61
(a mouth corner) is the picture's 291. MediaPipe's face mesh is symmetric, and it lists its
points so that the swap is a rule: the 28 points on the face's midline keep their index, and
of the other 440 the mesh lists one side's 220 first (indices below 248) and then the other
side's in the same order (``MIRROR``). The irises follow (468-472 and 473-477, the centre first,
the horizontal ends swapped). The map was found by landmarking the CREMA-D clips' frames and
their mirror images and matching the points (75 frames; a point-to-point assignment that is its
own inverse, 0.007 face widths apart on average), and it is checked against a real face in
``tests/vision/test_mirror.py``.

The blendshapes swap their ``Left`` and ``Right`` names; the head pose is mirrored across the
camera's x axis on both sides, ``S @ pose @ S`` with ``S = diag(-1, 1, 1, 1)`` (the canonical
face is symmetric about its own x = 0, so its mirrored point is the other side's point)."""

from __future__ import annotations

import numpy as np

from microemo.types import BLENDSHAPE_NAMES, FaceObservation

# The face mesh's points on its midline (the canonical face's x = 0).
MIDLINE: tuple[int, ...] = (
    *range(0, 3),
    *range(4, 7),
    *range(8, 20),
    94,
    151,
    152,
    164,
    168,
    175,
    195,
    197,
    199,
    200,
)
MESH_POINTS = 468


def _mirror_index() -> np.ndarray:
    index = np.arange(MESH_POINTS + 10)
    sides = [i for i in range(MESH_POINTS) if i not in MIDLINE]
    half = len(sides) // 2
    one, other = np.array(sides[:half]), np.array(sides[half:])
    index[one], index[other] = other, one
    # Irises: centre, then four points round it; the horizontal ones (1st and 3rd) swap sides.
    left, right = MESH_POINTS, MESH_POINTS + 5
    for k, j in enumerate((0, 3, 2, 1, 4)):
        index[left + k], index[right + j] = right + j, left + k
    return index


MIRROR = _mirror_index()  # MIRROR[i]: the point of the mirror image that is the picture's i


def _swapped_blendshapes() -> np.ndarray:
    where = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
    out = []
    for name in BLENDSHAPE_NAMES:
        if name.endswith("Left"):
            name = name[: -len("Left")] + "Right"
        elif name.endswith("Right"):
            name = name[: -len("Right")] + "Left"
        out.append(where[name])
    return np.array(out)


SWAP_BLENDSHAPES = _swapped_blendshapes()
_FLIP_X = np.diag([-1.0, 1.0, 1.0, 1.0]).astype(np.float32)


def unmirror(face: FaceObservation) -> FaceObservation:
    """``face`` found in a picture flipped left to right, as the unflipped picture holds it
    (landmarks normalised to the picture, so x becomes 1 - x)."""
    points = face.landmarks[MIRROR[: len(face.landmarks)]].copy()
    points[:, 0] = 1.0 - points[:, 0]
    return FaceObservation(
        points,
        face.blendshapes[SWAP_BLENDSHAPES].copy(),
        _FLIP_X @ face.pose @ _FLIP_X,
        face.image_size,
    )
