"""The synth AU templates are data (``au_templates.toml``): the table loads with every AU
the tool offers, a malformed entry is refused by name, and on a real face mesh each template
moves the points its AU moves, the way FACS describes the movement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microemo_train.spotting.warp import TEMPLATES, displacement, load_templates

OFFERED = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU12R",
           "AU12L", "AU14", "AU14R", "AU14L", "AU15", "AU17", "AU20")  # fmt: skip


def test_the_table_loads_every_au_the_tool_offers() -> None:
    assert tuple(TEMPLATES) == OFFERED  # AU12 and AU14 also one side at a time
    for au, (sigma, handles) in TEMPLATES.items():
        assert 0 < sigma < 0.2, au
        assert handles and all(0 <= i < 468 for r, left, _, _ in handles for i in (r, left)), au


def test_a_malformed_entry_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "templates.toml"
    bad.write_text("[AU99]\nsigma = 0.05\nhandles = [[107, 336, 0.04]]\n")
    with pytest.raises(ValueError, match=r"templates\.toml: \[AU99\] needs sigma and handles"):
        load_templates(bad)
    bad.write_text("[AU99]\nsigma = 0.05\none_sided = 1\nhandles = [[107, 336, 0.0, 0.04]]\n")
    with pytest.raises(ValueError, match=r"\[AU99\] one_sided must be true or false"):
        load_templates(bad)


def test_templates_move_a_real_face_as_facs_describes(recorded_faces) -> None:
    obs = recorded_faces["NEU"][0]
    pts = obs.landmarks[:, :2] * np.array(obs.image_size, np.float32)  # pixels

    def move(au: str, point: int) -> tuple[float, float]:
        """(outwards, upwards) pixels of one mesh point; image y grows downwards."""
        dx, dy = displacement(pts, {au: 1.0})[point]
        side = 1.0 if pts[point, 0] > pts[168, 0] else -1.0  # 168: bridge of the nose
        return float(side * dx), float(-dy)

    right_corner, left_corner = 61, 291
    for corner in (right_corner, left_corner):
        out, up = move("AU12", corner)  # lip corner puller: up and out
        assert out > 0.5 and up > 0.5
        assert move("AU15", corner)[1] < -0.5  # lip corner depressor: down
        assert move("AU20", corner)[0] > 0.5  # lip stretcher: out
    for inner_brow in (107, 336):
        assert move("AU01", inner_brow)[1] > 0.5  # inner brow raiser
        out, up = move("AU04", inner_brow)  # brow lowerer: down and together
        assert up < -0.5 and out < 0
    for upper_lid in (159, 386):
        assert move("AU05", upper_lid)[1] > 0.3  # upper lid raiser
    assert move("AU12", 1)[1] == pytest.approx(0.0, abs=0.05)  # the nose tip stays put
    # one side only (FACS R14 / L14): that corner tucked in, the other where it was
    sides = (("AU14R", right_corner, left_corner), ("AU14L", left_corner, right_corner))
    for au, moved, still in sides:
        assert move(au, moved)[0] < -0.5 and move(au, moved) == move("AU14", moved)
        assert np.hypot(*move(au, still)) < 0.05 < np.hypot(*move("AU14", still))
    assert move("AU12R", right_corner)[1] > 0.5 and abs(move("AU12R", left_corner)[1]) < 0.05
