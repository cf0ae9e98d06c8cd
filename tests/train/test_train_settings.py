"""The training config as a user gives it: a recipe plus ``--set`` overrides (the data path
without editing the recipe), and mistakes named before any extraction starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from microemo_train.cli import main
from microemo_train.settings import TrainConfigError, load

RECIPES = Path(__file__).resolve().parents[2] / "models"


def test_every_recipe_loads():
    for recipe in sorted(RECIPES.glob("train-*.toml")):
        load(recipe)


def test_set_gives_the_data_path_and_typed_values(tmp_path: Path):
    cfg = load(
        RECIPES / "train-ckplus.toml",
        [
            f"data.root={tmp_path}",
            "fit.epochs=3",
            "fit.fusion_weight=0.4",
            'data.labels=["anger", "neutral"]',
        ],
    )
    assert cfg.data.root == tmp_path and cfg.fit.epochs == 3 and cfg.fit.fusion_weight == 0.4
    assert cfg.data.labels == ["anger", "neutral"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("fit.fusion_weight=1.5", "fit.fusion_weight: fusion_weight 1.5 is not between 0 and 1"),
        ("windows.lable=input", "windows.lable: Extra inputs are not permitted"),
        ("fit.epochs", "--set 'fit.epochs': expected KEY=VALUE"),
        (
            'data.labels=["anger", "happiness"]',
            "windows.rest_label 'neutral' is not in data.labels",
        ),
    ],
)
def test_mistakes_are_named_up_front(override: str, message: str):
    with pytest.raises(TrainConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load(RECIPES / "train-ckplus.toml", [override])


def test_set_reaches_every_step(tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    """``microemo-train extract --set data.root=...`` reads that folder (here: one that does
    not exist, refused by name)."""
    missing = tmp_path / "nowhere"
    args = ["extract", "--config", str(RECIPES / "train-ckplus.toml")]
    args += ["--set", f"data.root={missing}", "--set", f"workdir={tmp_path}"]
    try:
        rc = main(args)
    except Exception as exc:  # raised, or reported by the CLI: either names the folder
        said = str(exc)
    else:
        assert rc != 0
        said = capfd.readouterr().err
    assert str(missing) in said
