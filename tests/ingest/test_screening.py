"""Secrets and personal data at ingestion: flagged by default, redacted before indexing when
configured, and never repeated in the report."""

from __future__ import annotations

import json
import subprocess
import sys

KEY = "sk-proj-" + "Q7x9" * 8
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"
DOC = (
    f"# Deploy notes\n\nSet OPENAI_API_KEY={KEY} in the environment before the deploy.\n\n{PEM}\n\n"
    "Questions go to ops lead maria.keller@example.org or +44 20 7946 0958.\n"
)


def _db_text(ws) -> bytes:
    ws.store.checkpoint()
    return (ws.settings.data_dir / "ragwright.db").read_bytes()


def test_secrets_are_flagged_by_default_and_indexed_as_they_are(workspace, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deploy.md").write_text(DOC)
    report = workspace.ingest([tmp_path / "d"])
    [found] = report.flagged
    assert found["source"].endswith("deploy.md") and found["secrets"] and not found["redacted_secrets"]
    assert sum(found["secrets"].values()) >= 2 and found["pii"] == {}
    # each secret by type and line of the file (line 3: the key; line 5: the PEM block's first line)
    assert [(f["type"], f["line"]) for f in found["found"]] == [("API key", 3), ("private key", 5)]
    assert KEY not in json.dumps(report.to_dict()) and "MIIEow" not in json.dumps(report.to_dict())  # never the value
    assert KEY.encode() in _db_text(workspace)


def test_redaction_before_indexing_keeps_secrets_and_pii_out_of_the_store(workspace, tmp_path):
    workspace.settings.ingest.secrets = "redact"
    workspace.settings.ingest.redact_pii = "placeholder"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deploy.md").write_text(DOC)
    report = workspace.ingest([tmp_path / "d"])
    [found] = report.flagged
    assert found["redacted_secrets"] and found["pii"].get("EMAIL_ADDRESS") == 1 and found["pii"].get("PHONE_NUMBER")
    stored = _db_text(workspace)
    for value in (KEY, "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn", "maria.keller@example.org", "7946 0958"):
        assert value.encode() not in stored
    hits = workspace.search("deploy environment key", 3)
    assert "<API_KEY>" in hits[0].text and "<EMAIL_ADDRESS>" in " ".join(h.text for h in hits)


def test_changing_the_redaction_setting_re_ingests(workspace, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deploy.md").write_text(DOC)
    assert workspace.ingest([tmp_path / "d"]).ingested == 1
    workspace.settings.ingest.secrets = "redact"
    assert workspace.ingest([tmp_path / "d"]).ingested == 1  # not "unchanged": what is stored differs now
    assert KEY.encode() not in _db_text(workspace)


def test_cli_reports_flagged_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "deploy.md").write_text(DOC)
    run = subprocess.run(
        [sys.executable, "-m", "ragwright", "ingest", str(tmp_path / "d"), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "flagged:" in run.stderr and "deploy.md" in run.stderr and KEY not in run.stderr + run.stdout
    assert "API key on line 3, private key on line 5" in run.stderr, run.stderr


def test_the_same_secret_twice_is_reported_on_both_lines(workspace, tmp_path):
    (tmp_path / "d").mkdir()
    text = "\n".join(["# Keys", "", "Old: AKIAIOSFODNN7EXAMPLF", "", "filler", "", "Again: AKIAIOSFODNN7EXAMPLF", ""])
    (tmp_path / "d" / "keys.txt").write_text(text)
    [found] = workspace.ingest([tmp_path / "d"]).flagged
    assert [(f["type"], f["line"]) for f in found["found"]] == [("AWS access key", 3), ("AWS access key", 7)]


def test_text_records_are_located_in_their_own_text(workspace):
    from ragwright.ingest import TextRecord

    report = workspace.ingest_records([TextRecord("r1", "Intro.\n\nNothing here.\n\nToken: " + KEY)])
    [found] = report.flagged
    assert found["source"] == "r1" and [(f["type"], f["line"]) for f in found["found"]] == [("API key", 5)]


def test_a_pdf_secret_is_located_by_page(workspace, tmp_path):
    from tests.filemakers import make_pdf

    (tmp_path / "d").mkdir()
    make_pdf(tmp_path / "d" / "runbook.pdf", [["Nothing secret on page one."], [f"Use the key {KEY} to deploy."]])
    [found] = workspace.ingest([tmp_path / "d"]).flagged
    assert [(f["type"], f["line"], f["page"]) for f in found["found"]] == [("API key", None, 2)]
