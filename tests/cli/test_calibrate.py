"""`ragwright calibrate`: the refusal threshold measured on the corpus, tuned on a labelled set."""

import json

from typer.testing import CliRunner

from ragwright import Workspace
from ragwright.cli.app import app
from ragwright.generate.calibration import MARGIN_KEY

LABELLED = [
    {"question": "How many vacation days do full-time employees get?", "answerable": True},
    {"question": "What is the daily meal allowance for international trips?", "answerable": True},
    {"question": "What is the capital of Australia?", "kind": "off_topic"},
    {"question": "Who wrote the novel Pride and Prejudice?", "kind": "off_topic"},
    {"question": "How do I convert a MyISAM table to InnoDB?", "kind": "off_topic"},
]


def _calibrate(*args):
    return CliRunner().invoke(app, ["calibrate", *args])


def test_calibrate_tunes_the_margin_on_a_labelled_set(tmp_path, settings, embedder, corpus):
    with Workspace(settings=settings, embedder=embedder) as ws:
        ws.ingest([corpus])
    labelled = tmp_path / "labelled"
    labelled.mkdir()
    (labelled / "questions.jsonl").write_text("\n".join(json.dumps(r) for r in LABELLED) + "\n")
    result = _calibrate("--data", str(labelled), "--data-dir", str(settings.data_dir), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    tuned = report["tuned"]
    assert tuned["answerable"] == 2 and tuned["off_topic"] == 3
    assert tuned["answerable_refused"] == 0.0 and tuned["off_topic_refused"] == 1.0
    with Workspace(settings=settings, embedder=embedder) as ws:
        assert float(ws.store.get_meta(MARGIN_KEY)) == report["margin"]
        assert ws.calibration().threshold == report["threshold"]
        assert ws.ask("What is the capital of Australia?").abstained
        assert not ws.ask("How many vacation days do full-time employees get?").abstained


def test_calibrate_explains_what_is_missing(tmp_path, settings, embedder, corpus):
    result = _calibrate("--data-dir", str(settings.data_dir))
    assert result.exit_code == 2 and "nothing is ingested yet" in result.output
    with Workspace(settings=settings, embedder=embedder) as ws:
        ws.ingest([corpus])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no label"}\n')
    result = _calibrate("--data", str(bad), "--data-dir", str(settings.data_dir))
    assert result.exit_code == 2 and 'needs "question" and "answerable" or "kind"' in result.output
    result = _calibrate("--data", str(tmp_path / "absent"), "--data-dir", str(settings.data_dir))
    assert result.exit_code == 2 and "questions.jsonl" in result.output
