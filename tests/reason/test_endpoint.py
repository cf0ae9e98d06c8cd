"""The second opinion against a real OpenAI-compatible HTTP server (scripted): good answers,
prose, labels outside the set, slow answers, 429 and 500; every body that left is text only."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from llm_server import good, prose, slow, status
from reason_kit import (
    assert_text_only,
    close_scores,
    config,
    disagreeing,
    easy,
    micro,
    with_private_data,
)

from microemo.reason.cli import main
from microemo.reason.engine import ASKING, BUDGET_SPENT, ENDPOINT_DOWN, Reasoner
from microemo.reason.episode import read_end_event
from microemo.reason.llm import LlmClient, api_key
from microemo.reason.refined import validate_refined


def reasoner(llm, tmp_path, key=None, **overrides):
    c = config(llm.base_url, tmp_path / "state", **overrides)
    (tmp_path / "state").mkdir(exist_ok=True)
    return Reasoner(c, LlmClient(c.llm, key))


def ask(r, event):
    case = r.consider(read_end_event(event))
    assert case is not None, "not a hard case"
    return r.answer(case)


def test_good_answers_become_refined_readings_and_only_text_left(llm, tmp_path):
    key_file = tmp_path / "llm_api_key"
    key_file.write_text("sk-test-0123\n")
    c = config(llm.base_url, tmp_path, llm__api_key_file=str(key_file))
    r = Reasoner(c, LlmClient(c.llm, api_key(c.llm)))
    llm.script(good("surprise", 0.8), good("sadness", 0.66, "AU01 with AU15: hurt"))
    events = [with_private_data(close_scores(1)), with_private_data(micro(2, face=1))]
    first, second = (ask(r, e) for e in events)
    assert r.consider(read_end_event(easy(3))) is None  # left alone: nothing sent
    for payload in (first, second):
        validate_refined(payload)
    assert (first["label"], first["confidence"], first["agrees"]) == ("surprise", 0.8, True)
    assert first["hard_because"] == ["margin"] and first["model"] == "scripted-1"
    assert first["device_scores"] == {"surprise": 0.46, "fear": 0.41, "neutral": 0.1}
    assert second["rationale"] == "AU01 with AU15: hurt" and second["hard_because"] == ["micro"]
    assert first["tokens"]["prompt"] > 100 and not first["tokens"]["estimated"]
    assert llm.count() == 2 and set(llm.paths) == {"/v1/chat/completions"}
    assert [h["authorization"] for h in llm.headers] == ["Bearer sk-test-0123"] * 2
    ids = [e["id"] for e in events] + [e["time"] for e in events] + ["cabin-1"]
    for raw in llm.bodies:
        assert_text_only(raw, ids)


@pytest.mark.parametrize(
    ("step", "said"),
    [
        (prose(), "not JSON: 'This looks like surprise"),
        (good(label="astonishment"), "label = 'astonishment'"),
        (good(confidence=1.4), "confidence = 1.4"),
    ],
)
def test_unusable_answers_are_logged_and_dropped(llm, tmp_path, caplog, step, said):
    r = reasoner(llm, tmp_path)
    llm.script(step)
    event = disagreeing(1)
    with caplog.at_level(logging.WARNING, "microemo.reason"):
        assert ask(r, event) is None
    assert f"episode {event['id']}: answer dropped: {said}" in caplog.text
    assert r.counts["rejected"] == 1 and r.counts["refined"] == 0
    assert r.breaker.state(0) == "closed"  # the endpoint works: its answer was the problem


def test_429_and_500_are_retried_with_back_off(llm, tmp_path):
    r = reasoner(llm, tmp_path, llm__max_retries=2)
    llm.script(status(429, retry_after="0.2"), status(500), good("fear"))
    payload = ask(r, close_scores(1))
    assert payload is not None and payload["label"] == "fear"
    assert llm.count() == 3 and payload["latency_ms"] >= 200  # Retry-After obeyed
    assert r.counts["asked"] == 1 and r.counts["failed"] == 0


def test_a_dead_endpoint_opens_the_circuit(llm, tmp_path, caplog):
    llm.default = status(500)
    r = reasoner(llm, tmp_path, limits__breaker_failures=2, limits__breaker_cooldown_s=600)
    with caplog.at_level(logging.WARNING, "microemo.reason"):
        assert ask(r, close_scores(1)) is None and ask(r, micro(2)) is None
    assert llm.count() == 4  # two cases, each tried twice (max_retries 1)
    assert "request failed: HTTP 500 after 2 tries" in caplog.text
    assert "no requests for 600 s, then one trial" in caplog.text
    assert r.state == ENDPOINT_DOWN and r.breaker.state(r.clock()) == "open"
    assert ask(r, disagreeing(3)) is None and llm.count() == 4  # not even tried
    assert r.counts["skipped_endpoint_down"] == 1


def test_a_slow_answer_times_out_and_the_next_case_goes_on(llm, tmp_path, caplog):
    r = reasoner(llm, tmp_path, llm__timeout_s=0.5, llm__max_retries=0)
    llm.script(slow(2.0, good("anger")), good("fear"))
    with caplog.at_level(logging.WARNING, "microemo.reason"):
        assert ask(r, close_scores(1)) is None
    assert "no answer within 0.5 s (1 tries)" in caplog.text
    assert ask(r, micro(2))["label"] == "fear"


def test_the_daily_budget_stops_the_asking(llm, tmp_path):
    r = reasoner(llm, tmp_path, limits__daily_tokens=900, llm__max_tokens=100)
    assert ask(r, close_scores(1)) is not None
    spent = r.budget.tokens
    assert 0 < spent <= 900
    assert ask(r, micro(2)) is None and llm.count() == 1
    assert r.state == BUDGET_SPENT and "daily token budget of 900 spent" in r.detail
    assert json.loads((tmp_path / "state" / "tokens-today.json").read_text())["tokens"] == spent
    r.today = lambda: date(2099, 1, 1)  # midnight UTC passed
    r.refresh()
    assert r.state == ASKING and ask(r, micro(3)) is not None


def test_identical_cases_are_asked_once(llm, tmp_path):
    r = reasoner(llm, tmp_path)
    first = ask(r, close_scores(1, device="a"))
    again = ask(r, close_scores(2, device="b", face=3))
    assert llm.count() == 1
    assert again["cached"] is True and again["tokens"]["prompt"] == 0
    assert again["label"] == first["label"]
    assert again["episode_id"] == close_scores(2, device="b", face=3)["id"]
    assert r.consider(read_end_event(close_scores(2, device="b", face=3))) is None  # redelivered


def test_replay_writes_refined_files_and_dry_run_sends_nothing(
    llm, tmp_path, monkeypatch, capsys, caplog
):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "llm_api_key").write_text("sk-from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    events = tmp_path / "out" / "clip.jsonl"
    events.parent.mkdir()
    lines = [easy(1), {**close_scores(2), "phase": "update"}, close_scores(3), micro(4)]
    events.write_text("".join(json.dumps(e) + "\n" for e in lines) + "not an event\n")
    cfg = tmp_path / "reason.toml"
    cfg.write_text(
        f'[llm]\nbase_url = "{llm.base_url}"\nmodel = "m"\n'
        f'[service]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    assert main(["replay", str(events), "--dry-run", "--config", str(cfg)]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["episode_id"] for p in printed] == [close_scores(3)["id"], micro(4)["id"]]
    assert printed[0]["post"] == llm.base_url + "/chat/completions" and llm.count() == 0
    out = ["--config", str(cfg), "--out", str(events.parent)]
    assert main(["replay", str(events.parent), *out]) == 0
    err = capsys.readouterr().err
    assert "clip.jsonl:5: skipped, not JSON" in caplog.text
    assert "3 end events, 2 hard: 2 refined" in err
    written = events.parent / "clip.refined.jsonl"
    assert [json.loads(x)["episode_id"] for x in written.read_text().splitlines()] == [
        close_scores(3)["id"],
        micro(4)["id"],
    ]
    assert llm.headers[0]["authorization"] == "Bearer sk-from-systemd"
    assert main(["replay", str(events.parent), *out]) == 0  # again: its own output is no input
    assert "3 end events, 2 hard" in capsys.readouterr().err
    assert "clip.refined.jsonl:1" not in caplog.text


def test_replay_tells_the_earlier_episodes_of_the_same_file_only(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps(easy(1, onset_ms=1000.0)) + "\n")
    b.write_text(json.dumps(micro(2, onset_ms=4000.0)) + "\n")
    both = tmp_path / "both.jsonl"
    both.write_text(a.read_text() + b.read_text())
    flags = ["--dry-run", "--set", "context.previous=true"]
    assert main(["replay", str(a), str(b), *flags]) == 0
    (request,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert "Earlier" not in request["body"]["messages"][1]["content"]  # another clip's clock
    assert main(["replay", str(both), *flags]) == 0
    (request,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert "Earlier, 1800 ms before this onset" in request["body"]["messages"][1]["content"]
