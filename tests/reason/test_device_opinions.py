"""The device's end events say what the CNN and the FACS rules each picked where the CNN took
part, so the hub can tell when they disagree; rules-only events are as they were."""

from __future__ import annotations

import numpy as np
from reason_kit import Seq

from microemo.emotion.rules import classify_aus
from microemo.publish.events import EventBuilder, validate_event
from microemo.types import AU_INDEX, EpisodeStep


def smile() -> np.ndarray:
    x = np.zeros(len(AU_INDEX))
    x[AU_INDEX[6]], x[AU_INDEX[12]] = 3.5, 4.0
    return x


def event_of(classification) -> dict:
    step = EpisodeStep("end", "dev-1-f0-000001", 0, 900.0, 100.0, 400.0, 900.0,
                       classification, {"AU12": 4.0}, {"name": "m", "version": "1"})  # fmt: skip
    event = EventBuilder("dev-1", Seq()).build(step)
    validate_event(event)
    return event


def test_a_cnn_that_disagrees_with_the_rules_is_visible_in_the_event():
    c = classify_aus(smile(), {"surprise": 0.9, "happiness": 0.05, "neutral": 0.05}, cnn_weight=0.5)
    assert (c.cnn_core, c.rules_core) == ("surprise", "happiness")
    event = event_of(c)
    assert (event["cnn_emotion"], event["rules_emotion"]) == ("surprise", "happiness")
    agree = classify_aus(smile(), {"happiness": 0.9, "neutral": 0.1}, cnn_weight=0.5)
    assert event_of(agree)["cnn_emotion"] == event_of(agree)["rules_emotion"] == "happiness"


def test_rules_alone_add_no_field():
    c = classify_aus(smile())
    assert c.core_source == "rules" and c.cnn_core is None
    assert "cnn_emotion" not in event_of(c) and "rules_emotion" not in event_of(c)
    odd = classify_aus(smile(), {"smirk": 0.9, "happiness": 0.1}, cnn_weight=0.5)
    assert odd.cnn_core is None  # a model with labels of its own: nothing comparable to say
