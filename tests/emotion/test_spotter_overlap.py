"""Episodes that overlap: each face region (brows, eyes, nose, mouth) spots on its own, and a
brief rise on top of a held expression of the same region is an episode of its own. With
``spotting.overlap`` off the spotter keeps one episode per face (what these tests show it
used to miss)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from tests.emotion.test_spotter import bump, ends, quiet_series

from microemo.config import SpottingConfig
from microemo.emotion.spotting import Spot, Spotter
from microemo.types import AU_INDEX, AUFrame


def run(
    x: np.ndarray, t: np.ndarray, motion: np.ndarray | None = None, **cfg: object
) -> list[Spot]:
    sp = Spotter(SpottingConfig(**cfg))  # type: ignore[arg-type]
    spots: list[Spot] = []
    for i, ti in enumerate(t):
        face = SimpleNamespace(pose_r_rad=np.zeros(3, np.float32))
        au = AUFrame(0, float(ti), x[i], x[i] > 1, np.zeros(0), face, True)
        if motion is not None:
            au.motion = motion[i]
        spots += sp.update(au)
    return spots + sp.close_face(0, float(t[-1]))


def one_each(spots: list[Spot]) -> None:
    """Every episode has one start and one end, and its own key."""
    for phase in ("start", "end"):
        keys = [s.key for s in spots if s.phase == phase]
        assert len(keys) == len(set(keys)), spots
    assert {s.key for s in spots if s.phase == "start"} == {s.key for s in ends(spots)}


@pytest.mark.parametrize("fps", [30.0, 100.0])
def test_a_brief_smile_while_the_brows_hold_a_raise_is_its_own_episode(fps: float) -> None:
    t, x, _ = quiet_series(fps, seconds=8.0)
    x[:, AU_INDEX[1]] += bump(t, 3000, 3300, 5600, 3.5)  # brows raised for 2.6 s
    x[:, AU_INDEX[12]] += bump(t, 4200, 4350, 4600, 3.0)  # a 400-ms smile in the middle
    spots = run(x, t)
    one_each(spots)
    done = {next(iter(s.apex_aus)): s for s in ends(spots)}
    assert sorted(done) == ["AU01", "AU12"], ends(spots)
    brows, smile = done["AU01"], done["AU12"]
    assert brows.regions == ("brows",) and smile.regions == ("mouth",)
    assert brows.offset_ms - brows.onset_ms > 1500  # still the macro episode it was
    assert smile.offset_ms - smile.onset_ms < 500  # micro
    assert smile.onset_ms == pytest.approx(4200, abs=100)
    assert smile.within is None  # another region's episode, not a rise on top of it
    # one episode per face: the smile came inside the brows' episode and was not an episode
    alone = ends(run(x, t, overlap=False))
    assert [next(iter(s.apex_aus)) for s in alone] == ["AU01"]
    assert alone[0].regions == ("face",)


def test_regions_that_rise_together_are_one_episode() -> None:
    t, x, _ = quiet_series(30.0, seconds=8.0)
    x[:, AU_INDEX[1]] += bump(t, 4000, 4150, 4400, 3.0)  # surprise: brows and lids...
    x[:, AU_INDEX[5]] += bump(t, 4030, 4180, 4400, 3.0)
    x[:, AU_INDEX[9]] += bump(t, 6000, 6150, 6400, 3.0)  # ...later disgust: nose and lip
    x[:, AU_INDEX[10]] += bump(t, 6060, 6200, 6400, 3.0)
    spots = run(x, t)
    one_each(spots)
    done = ends(spots)
    assert [set(s.regions) for s in done] == [{"brows", "eyes"}, {"nose", "mouth"}], done
    assert set(done[0].apex_aus) == {"AU01", "AU05"}


def test_a_brief_rise_on_top_of_a_held_expression_is_an_episode_within_it() -> None:
    """A smile held for 4 s (a macro episode of the mouth) and, 2 s in, the corners flick up
    a little more for 300 ms: a brief rise above the held plateau, spotted on its own and
    naming the held episode it rose on."""
    t, x, _ = quiet_series(30.0, seconds=9.0)
    held = np.clip((t - 2000.0) / 200.0, 0, 1) * np.clip((6000.0 - t) / 200.0, 0, 1)
    x[:, AU_INDEX[12]] += (2.5 * held).astype(np.float32)
    motion = np.zeros((len(t), len(x[0])), np.float32)
    motion[:, AU_INDEX[12]] = np.minimum(bump(t, 4000, 4120, 4300, 6.0), 5.0)
    spots = run(x, t, motion)
    one_each(spots)
    done = ends(spots)
    assert len(done) == 2, done
    outer, inner = sorted(done, key=lambda s: s.onset_ms)
    assert outer.offset_ms - outer.onset_ms > 3000 and "AU12" in outer.apex_aus
    assert inner.within == outer.key
    assert inner.regions == ("mouth",) and "AU12" in inner.apex_aus
    assert inner.onset_ms == pytest.approx(4000, abs=100)
    assert inner.offset_ms - inner.onset_ms < 500
    # the held smile alone is one episode: its own plateau never spots itself again
    alone = ends(run(x, t))
    assert len(alone) == 1 and alone[0].within is None
    one = ends(run(x, t, motion, overlap=False))
    assert [(s.onset_ms, s.offset_ms) for s in one] == [(alone[0].onset_ms, alone[0].offset_ms)]
