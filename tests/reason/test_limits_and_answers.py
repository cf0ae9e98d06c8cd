"""Answers validated before use; the rate limit, budget, breaker and cache on a fake clock;
the configuration refusing what it cannot use, with the key named."""

from __future__ import annotations

import json
from datetime import date

import pytest
from reason_kit import config

from microemo.config_errors import ConfigError
from microemo.reason.answer import AnswerRejected, parse_answer
from microemo.reason.cli import main
from microemo.reason.guard import AnswerCache, Breaker, DailyBudget, RateLimit


def answer(**kw):
    return json.dumps({"label": "fear", "confidence": 0.7, "rationale": "AU01, AU04, AU20", **kw})


def test_a_good_answer_and_one_in_a_code_fence():
    a = parse_answer(answer())
    assert (a.label, a.confidence, a.rationale) == ("fear", 0.7, "AU01, AU04, AU20")
    assert parse_answer("```json\n" + answer(label="anger") + "\n```").label == "anger"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("It is probably fear, given the raised brows.", "not JSON"),
        ("", "empty answer"),
        ('["fear", 0.7]', "not a JSON object"),
        (answer(label="joy"), "label = 'joy'"),
        (answer(label="Fear"), "label = 'Fear'"),
        (answer(confidence=1.7), "confidence = 1.7"),
        (answer(confidence=-0.1), "confidence = -0.1"),
        (answer(confidence="0.7"), "confidence = '0.7'"),
        (answer(rationale="AU1\nAU4"), "rationale"),
        (json.dumps({"label": "fear", "confidence": 0.7}), "rationale"),
    ],
)
def test_answers_that_are_not_used(text, said):
    with pytest.raises(AnswerRejected, match=said):
        parse_answer(text)


def test_rate_limit_at_most_n_a_minute():
    rate = RateLimit(3)
    for t in (0.0, 1.0, 2.0):
        assert rate.wait_s(t) == 0
        rate.take(t)
    assert rate.wait_s(2.5) == pytest.approx(57.5)  # the first leaves the window at 60 s
    assert rate.wait_s(60.0) == 0
    slow = RateLimit(0.5)  # one every two minutes
    slow.take(0.0)
    assert slow.wait_s(1.0) == pytest.approx(119.0)


def test_daily_budget_survives_a_restart_and_starts_again_at_midnight(tmp_path):
    path = tmp_path / "tokens-today.json"
    day1, day2 = date(2026, 3, 1), date(2026, 3, 2)
    budget = DailyBudget(1000, path)
    assert budget.allows(day1, 1000)
    budget.add(day1, 700)
    again = DailyBudget(1000, path)  # a restart keeps the day's count
    assert again.spent(day1) == 700
    assert again.allows(day1, 300) and not again.allows(day1, 301)
    assert again.allows(day2, 1000) and again.spent(day2) == 0
    path.write_text("{not json")
    assert DailyBudget(1000, path).spent(day1) == 0  # unreadable: warned, counted from 0
    assert DailyBudget(0, None).allows(day1, 10**9)  # 0: no limit


def test_breaker_opens_after_failures_then_one_trial_decides():
    b = Breaker(failures=3, cooldown_s=60)
    assert [b.failure(t) for t in (0, 1)] == [False, False] and b.allow(2)
    assert b.failure(2) is True and b.state(3) == "open" and not b.allow(30)
    assert b.allow(62) and not b.allow(62.5)  # half-open: one trial, not two
    b.failure(63)  # the trial failed: open again, from now
    assert b.state(100) == "open" and b.allow(123)
    b.success()
    assert b.state(124) == "closed" and b.allow(124) and b.allow(124)


def test_cache_keeps_the_most_recently_used():
    cache: AnswerCache[str] = AnswerCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    none: AnswerCache[str] = AnswerCache(0)
    none.put("a", "A")
    assert none.get("a") is None


def test_config_names_the_bad_key(tmp_path):
    with pytest.raises(ConfigError, match=r"llm\.modle: unknown key; did you mean `llm\.model`"):
        config("http://h/v1", tmp_path, llm__modle="x")
    with pytest.raises(ConfigError, match=r"llm\.api_key: secrets never go in the config file"):
        config("http://h/v1", tmp_path, llm__api_key="sk-live-123")
    with pytest.raises(ConfigError, match=r"llm\.base_url = 'api\.openai\.com/v1'"):
        config("api.openai.com/v1", tmp_path)
    with pytest.raises(ConfigError, match=r"select\.labels .*contemt"):
        config("http://h/v1", tmp_path, select__labels=["contemt"])
    with pytest.raises(ConfigError, match=r"mqtt\.port = '1883': .*without quotes"):
        config("http://h/v1", tmp_path, mqtt__port="1883")
    with pytest.raises(ConfigError, match=r"mqtt\.devices = \['cabin-1', 'lobby/\+'\]"):
        config("http://h/v1", tmp_path, mqtt__devices=["cabin-1", "lobby/+"])


def test_check_command(tmp_path, capsys):
    good = tmp_path / "reason.toml"
    good.write_text(
        '[mqtt]\nhost = "hub"\nprefix = "kiosks"\n[llm]\nmodel = "gpt-4o-mini"\n'
        'base_url = "https://api.openai.com/v1"\n'
    )
    assert main(["check", str(good)]) == 0
    out = capsys.readouterr().out
    assert "valid. broker hub:1883 prefix 'kiosks'" in out and "model 'gpt-4o-mini'" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[llm]\nbase_ulr = "http://h/v1"\n')
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: invalid configuration" in err and "did you mean `llm.base_url`?" in err
    assert main(["check", str(good), "--set", "limits.queue=0"]) == 2
    assert "limits.queue = 0: Input should be greater than or equal to 1" in capsys.readouterr().err
    assert main(["check", str(good), "--set", "oops"]) == 2
    assert "e.g. --set llm.model=gpt-4o-mini" in capsys.readouterr().err
