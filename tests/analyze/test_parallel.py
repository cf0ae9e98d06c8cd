"""``microemo analyze --jobs N`` as a user runs it: several inputs in parallel, or one input's
frames over several workers, write what ``--jobs 1`` writes."""

from __future__ import annotations

import json
from pathlib import Path

from analyze_kit import run_analyze
from tests.conftest import clip_path

from microemo.analyze.parallel import lane_workers


def analyze(out: Path, jobs: int, *inputs: Path) -> list[str]:
    proc = run_analyze(*inputs, "--out", out, "--jobs", str(jobs))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert lines[-1].startswith(f"index: {out}")
    return lines[:-1]  # a line per input


def events(path: Path) -> list[dict]:
    """Episode events without what differs between any two runs: the run's random id
    prefix and the wall-clock time."""
    out = []
    for line in path.read_text().splitlines():
        e = json.loads(line)
        e.pop("time")
        e["id"] = e["id"].split("-", 2)[-1].split("-", 1)[-1]  # desktop-3fa2c1-f0-600 -> f0-600
        out.append(e)
    return out


def test_jobs_2_writes_exactly_what_jobs_1_writes(tmp_path):
    # the first input is the longest (70 frames): the second (56) finishes before it
    clips = [clip_path(e) for e in ("DIS", "HAP", "NEU")]
    one = analyze(tmp_path / "j1", 1, *clips)
    two = analyze(tmp_path / "j2", 2, *clips)  # two inputs at a time, one worker each
    split = analyze(tmp_path / "split", 2, clips[0])  # one input's frames over two workers
    # the same lines, in the order the inputs were given, whichever finished first
    assert one == two and [ln.split(":")[0] for ln in two] == [c.stem for c in clips]
    assert split == [one[0]]
    for clip in clips:
        name = clip.stem
        csv1 = (tmp_path / "j1" / f"{name}.csv").read_bytes()
        assert (tmp_path / "j2" / f"{name}.csv").read_bytes() == csv1, name
        jsonl = f"{name}.jsonl"
        assert events(tmp_path / "j2" / jsonl) == events(tmp_path / "j1" / jsonl)
        assert (tmp_path / "j2" / f"{name}.png").stat().st_size > 20_000
    first = clips[0].stem
    assert (tmp_path / "split" / f"{first}.csv").read_bytes() == (
        tmp_path / "j1" / f"{first}.csv"
    ).read_bytes()
    jsonl = f"{first}.jsonl"
    assert events(tmp_path / "split" / jsonl) == events(tmp_path / "j1" / jsonl)


def test_workers_are_shared_out_between_inputs():
    assert lane_workers(4, 24) == [1, 1, 1, 1]  # many short inputs: one worker each
    assert lane_workers(4, 1) == [4]  # one long video: all of them
    assert lane_workers(6, 4) == [2, 2, 1, 1]
    assert lane_workers(1, 5) == [1]
