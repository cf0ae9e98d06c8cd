"""``microemo-train facs-bench --by COLUMN``: the AU figures per group of faces a manifest
column names, and the faces at rest read with an AU per group: issue 19's JAFFE symptom (a
resting face read with its brows "raised") is a question of whose face it is."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("sklearn")

from tests.train import facs_kit as kit

pytestmark = pytest.mark.slow

# each subject's rows: (AUs warped in, how they are coded)
EXPRESSIONS = [({"AU12": 1.6}, "12D"), ({"AU04": 1.6}, "4D"), ({"AU01": 1.6, "AU02": 1.6}, "1D+2D")]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four people of two groups, each with three coded expressions and a face coded at rest
    ("0"); the "smiling" group's faces at rest carry a smile (a face that looks smiling at
    rest, as a JAFFE face looks brow-raised), the "plain" group's are their plain stills."""
    root = tmp_path_factory.mktemp("by")
    faces = kit.load_faces()
    path = root / "faces.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "subject", "aus", "Rest Face"])
        for subject, group in (("S01", "plain"), ("S02", "plain"), ("S03", "smiling"),
                               ("S04", "smiling")):  # fmt: skip
            rest = ({"AU12": 1.6} if group == "smiling" else {}, "0")
            for k, (aus, code) in enumerate([*EXPRESSIONS, rest]):
                image = kit.write_image(root / subject / f"{k}.png", faces[subject].with_aus(aus))
                w.writerow([image.relative_to(root), subject, code, group])
    return path


def test_the_group_whose_faces_smile_at_rest_is_named_with_the_au(manifest, tmp_path):
    out = tmp_path / "f.json"
    done = kit.run_tool("facs-bench", "--adapter", "manifest", "--root", manifest,
                        "--by", "rest face", "--min-positives", "2", "--json", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    by = json.loads(out.read_text())["sets"]["apex"]["by"]["rest face"]
    plain, smiling = by["groups"]["plain"], by["groups"]["smiling"]
    assert (plain["items"], smiling["items"]) == (8, 8)
    assert plain["at_rest"]["frames"] == smiling["at_rest"]["frames"] == 2
    assert smiling["at_rest"]["read_with_au"] == 1.0 and "AU12" in smiling["at_rest"]["aus"]
    assert "AU12" not in plain["at_rest"]["aus"]
    assert plain["at_rest"]["read_with_au"] < smiling["at_rest"]["read_with_au"]
    assert plain["at_rest"]["mean_aus"] < smiling["at_rest"]["mean_aus"]
    # the expressions are read in both groups; two faces at rest a group are no evidence
    assert plain["summary"]["auc"] > 0.7 and smiling["summary"]["auc"] > 0.5
    gap = by["gap_at_rest"]
    assert (gap["highest"], gap["lowest"]) == ("smiling", "plain") and gap["p"] > 0.1
    assert "## apex by rest face" in done.stdout and "(AU12 2" in done.stdout
    assert "gap in AUs read on a face at rest" in done.stdout


def test_by_a_column_no_item_has_is_refused_naming_those_it_has(manifest):
    done = kit.run_tool("facs-bench", "--adapter", "manifest", "--root", manifest,
                        "--by", "origin")  # fmt: skip
    assert done.returncode == 2
    assert "--by origin: no item has such a column" in done.stderr
    assert "found ['restface']" in done.stderr
