"""FACS rule tables: the prototypes and the 24 micro-emotions of DESIGN.md, as data."""

from __future__ import annotations

import numpy as np
import pytest

from microemo.emotion.rules import classify_aus, load_tables, parse_tables
from microemo.types import AU_IDS, AU_INDEX, Classification


def aus(**kw: float) -> np.ndarray:
    v = np.zeros(len(AU_IDS), np.float32)
    for name, value in kw.items():
        v[AU_INDEX[int(name[2:])]] = value
    return v


@pytest.mark.parametrize(
    "pattern,core",
    [
        ({"AU6": 3, "AU12": 4}, "happiness"),
        ({"AU1": 3, "AU15": 3, "AU17": 3}, "sadness"),
        ({"AU4": 3, "AU5": 3, "AU7": 3, "AU23": 3}, "anger"),
        ({"AU1": 3, "AU2": 3, "AU5": 3, "AU26": 3}, "surprise"),
        ({"AU9": 3, "AU10": 3, "AU15": 3}, "disgust"),
        ({"AU14": 3, "AU24": 3}, "contempt"),
        ({}, "neutral"),
    ],
)
def test_prototypes_give_core_emotions(pattern, core):
    result = classify_aus(aus(**pattern))
    assert result.core == core and result.core_source == "rules"
    for a in result.aus:
        assert int(a[2:]) in [int(k[2:]) for k in pattern]


def test_all_24_micro_emotions_under_8_states_are_in_the_table():
    t = load_tables()
    assert len(t.micro) == 24
    assert {r.state for r in t.micro} == {
        "Sad",
        "Scared",
        "Angry",
        "Embarrassed",
        "Playful",
        "Confident",
        "Loved",
        "Happy",
    }


@pytest.mark.parametrize("rule", load_tables().micro, ids=lambda r: r.name)
def test_each_micro_rule_fires_on_its_own_aus(rule):
    core = {"Sad": "sadness", "Scared": "fear", "Angry": "anger", "Embarrassed": "sadness"}.get(
        rule.state, "happiness"
    )
    result = classify_aus(aus(**{f"AU{a}": 3.0 for a in rule.all}), {core: 0.9, "neutral": 0.1})
    # rules sharing AUs under one core emotion (hopeful/grateful, brave/caring) may name the
    # other: then the winner used exactly the same AUs and the output says which rule fired
    winner = next(r for r in load_tables().micro if r.name == result.micro)
    assert result.micro == rule.name or set(winner.all) == set(rule.all), (rule, winner)
    assert result.micro_rule == winner.label


def test_without_reads_as_absent():
    assert classify_aus(aus(AU7=3)).micro == "bored"
    assert classify_aus(aus(AU7=3, AU12=3)).micro != "bored"
    assert classify_aus(aus(AU15=3)).micro == "excluded"
    assert classify_aus(aus(AU15=3, AU1=3)).micro == "hurt"


def test_core_emotion_decides_between_rules_sharing_aus():
    # hopeful (Confident) and grateful (Happy) are both AU12+AU1: the output says which fired
    r = classify_aus(aus(AU12=3, AU1=3), {"happiness": 0.8, "neutral": 0.2})
    assert r.micro in ("hopeful", "grateful") and r.micro_rule == "AU12+AU1"
    assert r.core_source == "cnn+rules" and r.core == "happiness"


def test_table_with_unknown_au_is_refused_by_name():
    text = """
[scoring]
saturation = 3.0
core_threshold = 0.35
present = 1.0
[core.happiness]
aus = [6, 12]
[states]
Happy = ["happiness"]
[[micro]]
state = "Happy"
name = "giddy"
all = [12, 99]
"""
    with pytest.raises(ValueError, match=r"giddy.*AU99"):
        parse_tables(text)


def test_what_a_face_shown_at_rest_leans_to():
    """``expressed``: the best class but neutral, with its share of the non-neutral scores
    (a face that shows an expression, if it shows one, is this one so likely)."""
    at_rest = Classification(
        core="neutral",
        core_source="appearance+rules",
        core_score=0.6,
        scores={"neutral": 0.6, "happiness": 0.3, "anger": 0.1},
    )
    assert at_rest.expressed() == ("happiness", pytest.approx(0.75))
    assert Classification("neutral", "rules", 1.0, {"neutral": 1.0}).expressed() is None
    smile = classify_aus(aus(AU6=3, AU12=4))
    label, score = smile.expressed() or ("", 0.0)
    assert label == "happiness" and score >= smile.scores["happiness"]
