"""json_text strips a reply's code fences as the regex it replaces did, without its cost: that
regex (r"^```(?:json)?\\s*|\\s*```$" with sub) tried its closing alternative at every space of a
run, so a model's reply with a long run of spaces cost quadratic time (review 16's fixer)."""

import random
import re
import time

from ragwright.models.structured import json_text

_OLD_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)


def _old_json_text(text: str) -> str:
    text = _OLD_FENCE.sub("", text.strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def test_the_same_as_the_old_pattern_on_fenced_and_unfenced_replies():
    rng = random.Random(16)
    pieces = ["```", "```json", "```JSON", "json", " ", "\n", "\t", "{", "}", '"a": 1', "x", "`", "``"]
    texts = ["", "```", "```json```", '```json\n{"a": 1}\n```', '{"a": 1}', "  ```\n{}\n```  "]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    for text in texts:
        assert json_text(text) == _old_json_text(text), repr(text)


def test_a_long_run_of_spaces_costs_linear_time():
    reply = '```json\n{"answer": "x' + " " * 100_000 + 'y"}' + " " * 50_000 + "z\n```"
    started = time.process_time()
    out = json_text(reply)
    assert time.process_time() - started < 0.5  # the old pattern: ~14 s
    assert out.startswith('{"answer": "x') and out.endswith('y"}')
