"""``microemo-train facs-bench`` and ``facs-calibrate`` as a user runs them, on FACS-coded sets
built from real faces with AUs warped in at known intensities (``facs_kit``): DISFA, BP4D and
CK+ as distributed, and a manifest with neutral references. The calibration they write is
then read by ``microemo analyze``: an AU the data set taught reads on a face it never saw."""

from __future__ import annotations

import csv
import json
import re
import sys
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from tests.train import facs_kit as kit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every layout, built once: three subjects' 40-frame videos (a smile, a frown, raised
    brows), five subjects' stills, and one landmark cache for all runs."""
    root = tmp_path_factory.mktemp("facs")
    faces = kit.load_faces()
    unseen = faces.pop("unseen")
    videos = {s: kit.render(f) for s, f in list(faces.items())[:3]}
    return {
        "disfa": kit.disfa(root / "DISFA", videos),
        "bp4d": kit.bp4d(root / "BP4D", videos),
        "ckplus": kit.ckplus(root / "CK+", faces),
        "manifest": kit.manifest(root / "mine", faces),
        "blind": kit.blind_calibration(root / "blind_au12.toml"),
        "unseen": _neutral_then(root / "unseen", unseen, {"AU12": 1.0}),
        "cache": root / "cache",
    }


def _neutral_then(folder: Path, face: kit.Face, aus: dict[str, float]) -> Path:
    """A frame folder as the hidden evaluation builds them: the neutral face 8 times, then
    the face with ``aus`` 4 times."""
    for i in range(12):
        kit.write_image(folder / f"frame_{i:03d}.png", face.with_aus(aus if i >= 8 else {}))
    return folder


def _au_rows(stdout: str, au: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"| {au} |")]


@pytest.mark.parametrize("layout", ["disfa", "bp4d", "ckplus"])
def test_bench_scores_each_layout_per_au_and_per_subject(data, tmp_path: Path, layout: str):
    out = tmp_path / "bench.json"
    adapter = "ckplus" if layout == "ckplus" else "au-csv"
    proc = kit.run_tool(
        "facs-bench", "--adapter", adapter, "--root", data[layout], "--every", "2",
        "--neutral-frames", "3", "--apex-frames", "1", "--min-positives", "3",
        "--per-subject", "--json", out, "--cache", data["cache"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())  # strict JSON: no NaN
    assert result["format"] == 1 and result["data_set"]["adapter"] == adapter
    sets = result["sets"]
    assert set(sets) == ({"neutral-apex", "apex"} if layout == "ckplus" else {layout})
    for name, figures in sets.items():
        assert set(figures) == {"items", "coded", "summary", "aus", "subjects", "emotion"}
        assert set(figures["summary"]) == {"aus", "auc", "f1", "corr"}
        aus = {f["au"]: f for f in figures["aus"]}
        assert set(aus["AU12"]) == {"au", "positives", "negatives", "auc", "f1", "corr"}
        # the warped smiles are read as smiles, ranked above every face without one
        assert aus["AU12"]["auc"] >= 0.9, (name, aus["AU12"])
        subjects = figures["subjects"]
        assert set(next(iter(subjects.values()))) == {"frames", "agreement", "recall", "auc", "aus"}
        for subject, line in subjects.items():  # a line per subject, as asked
            assert f"  {subject}: {line['frames']} frames, agreement" in proc.stdout
    if layout != "ckplus":
        assert _au_rows(proc.stdout, "AU04") and _au_rows(proc.stdout, "AU12")
        assert "note: subsampled: 60 of 120 coded frames read, every 2 frame(s)" in proc.stdout
        au = {f["au"]: f for f in sets[layout]["aus"]}
        # only AUs the data set codes are negatives: DISFA codes AU05, BP4D does not; BP4D's
        # 9 (AU04 on each video's first five frames: three of them read) is no negative
        assert (au["AU05"]["negatives"] > 0) == (layout == "disfa")
        if layout == "bp4d":
            assert au["AU04"]["positives"] + au["AU04"]["negatives"] == 60 - 3 * 3
    else:
        assert "core emotion from AUs (device rules): accuracy" in proc.stdout


def test_bench_reads_the_faces_as_a_poorer_camera_takes_them(data, tmp_path: Path):
    """``--degrade`` measures what a camera costs the AUs on the same faces: the frames are
    landmarked again as that camera takes them, cached apart from the clean ones."""

    def bench(*extra: str, name: str) -> dict:
        out = tmp_path / f"{name}.json"
        proc = kit.run_tool(
            "facs-bench", "--adapter", "ckplus", "--root", data["ckplus"],
            "--neutral-frames", "3", "--apex-frames", "1", "--min-positives", "3",
            "--json", out, "--cache", data["cache"], *extra,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(out.read_text())

    def figures(result: dict) -> dict:
        return {n: {f["au"]: f for f in s["aus"]} for n, s in result["sets"].items()}

    clean = bench(name="clean")
    noisy = bench("--degrade", "noise=24", name="noisy")
    assert "every frame as the camera noise-24 takes it (--degrade)" in noisy["data_set"]["notes"]
    assert figures(noisy) != figures(clean), "the noisy frames read exactly as the clean ones"
    for name, aus in figures(noisy).items():
        assert aus["AU12"]["auc"] >= 0.8, (name, aus["AU12"])  # a smile is still a smile
    assert figures(bench(name="again")) == figures(clean)  # the clean frames' cache is untouched

    bad = kit.run_tool(
        "facs-bench", "--adapter", "ckplus", "--root", data["ckplus"], "--degrade", "blur=9",
        "--cache", data["cache"],
    )  # fmt: skip
    assert bad.returncode == 2
    assert "--degrade 'blur=9': blur takes a percent of the shorter side from 0.05 to 5" in (
        bad.stderr
    )


def test_calibrate_writes_a_file_the_device_reads(data, tmp_path: Path):
    cal, weights, docs = tmp_path / "my_au.toml", tmp_path / "my_core.toml", tmp_path / "aus.md"
    proc = kit.run_tool(
        "facs-calibrate", "--adapter", "manifest", "--root", data["manifest"],
        "--base", data["blind"], "--folds", "3", "--min-positives", "3",
        "--out", cal, "--emotion-out", weights, "--docs", docs, "--json", tmp_path / "cal.json",
        "--cache", data["cache"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    # before (the blind AU12) and after (out of fold: no face scored by a fit of its subject)
    (row,) = _au_rows(proc.stdout, "AU12")
    before, after = map(float, re.search(r"\| ([\d.]+) -> ([\d.]+) \|", row).groups())
    assert after >= 0.9 and after > before + 0.2, row
    assert f"wrote {cal} and {weights}" in proc.stdout

    written = tomllib.loads(cal.read_text())
    prov = written["provenance"]
    assert prov["data_set"] == "manifest at faces.csv" and prov["subjects"] == 5
    assert prov["date"] == date.today().isoformat() and prov["items"] == 35
    assert prov["command"].startswith("microemo-train facs-calibrate --adapter manifest")
    assert prov["cross_validation"] == "3 folds grouped by subject"
    au12 = written["AU"]["AU12"]
    assert au12["source"] == "fitted" and au12["cv"]["auc"] >= 0.9
    assert au12["cv"]["positives"] == 15 and au12["cv"]["negatives"] == 20
    assert tomllib.loads(weights.read_text())["provenance"]["subjects"] == 5
    assert "manifest at faces.csv, 5 subjects, 35 items" in docs.read_text()
    assert set(json.loads((tmp_path / "cal.json").read_text())) >= {"provenance", "after"}

    # the device: au.calibration in a config given to analyze, on a face no fit saw
    fitted = _last_au12(tmp_path / "fitted", data["unseen"], cal)
    blind = _last_au12(tmp_path / "blind", data["unseen"], data["blind"])
    assert fitted[-1] >= 1.0 and fitted[-1] > max(fitted[:8]) + 1.0, fitted
    assert blind[-1] < 1.0, blind  # what it reads of AU12, the data taught it
    check = kit.run_device("config", "check", _config(tmp_path / "fitted", cal))
    assert check.returncode == 0, check.stderr


def test_calibrate_with_stills_names_them_apart_from_the_subjects(data, tmp_path: Path):
    """``--stills`` (a set without subject ids: each still is its own fold unit) joins the
    coded subjects; the provenance counts the stills apart instead of as subjects."""
    faces = kit.load_faces()
    faces.pop("unseen")
    stills = tmp_path / "stills"
    for subject, face in faces.items():
        for label, aus in (("neutral", {}), ("happiness", {"AU12": 1.0}),
                           ("surprise", {"AU01": 1.0, "AU02": 1.0})):  # fmt: skip
            kit.write_image(stills / label / f"{subject}.png", face.with_aus(aus))
    docs = tmp_path / "aus.md"
    proc = kit.run_tool(
        "facs-calibrate", "--adapter", "manifest", "--root", data["manifest"],
        "--base", data["blind"], "--folds", "3", "--min-positives", "3",
        "--stills", stills, "--out", tmp_path / "cal.toml", "--docs", docs,
        "--cache", data["cache"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    n = len(faces)
    header = docs.read_text().splitlines()[4]
    assert f"manifest at faces.csv, {n} subjects, {3 * n} stills without subject ids, " in header, (
        header
    )


def _config(folder: Path, calibration: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "device.toml"
    config.write_text(
        f'[au]\ncalibration = "{calibration}"\n[device]\nstate_dir = "{folder / "state"}"\n'
        f'[source]\ntype = "image"\npath = "{kit.clip_path("NEU")}"\n'
    )
    return config


def _last_au12(folder: Path, frames: Path, calibration: Path) -> list[float]:
    proc = kit.run_device(
        "analyze", frames, "--no-plot", "--config", _config(folder, calibration),
        "--out", folder / "out",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with (folder / "out" / f"{frames.name}.csv").open(newline="") as f:
        return [float(r["AU12_r"]) for r in csv.DictReader(f)]


def test_calibrate_names_what_it_cannot_use(data, tmp_path: Path):
    rows = data["manifest"].read_text().splitlines()
    two = data["manifest"].with_name("two_subjects.csv")
    two.write_text(
        "\n".join([rows[0]] + [r for r in rows[1:] if r.split(",")[1] in ("S01", "S02")])
    )
    proc = kit.run_tool(
        "facs-calibrate", "--adapter", "manifest", "--root", two, "--out", tmp_path / "x.toml",
        "--cache", data["cache"],
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {two}: 2 subject(s)")
    assert not (tmp_path / "x.toml").exists()
    gone = kit.run_tool("facs-bench", "--adapter", "au-csv", "--root", tmp_path / "nowhere")
    assert gone.returncode == 2
    assert (
        gone.stderr.strip().splitlines()[-1]
        == f"error: {tmp_path / 'nowhere'}: no such file or folder"
    )


def test_help_explains_the_options() -> None:
    bench = kit.run_tool("facs-bench", "--help")
    for option in ("--per-subject", "--json", "--every", "--max-frames", "--on-missing",
                   "--layout", "--min-intensity", "--calibration", "`subjects`",
                   "--degrade"):  # fmt: skip
        assert option in bench.stdout, option
    calibrate = kit.run_tool("facs-calibrate", "--help")
    for option in ("--out", "--emotion-out", "--folds", "--base", "--docs", "au.calibration"):
        assert option in calibrate.stdout, option
