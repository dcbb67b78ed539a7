"""Secrets and personal data at ingestion: flagged by default, redacted before indexing when
configured, and never repeated in the report."""

from __future__ import annotations

import json
import subprocess
import sys

KEY = "sk-proj-" + "Q7x9" * 8
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----"
DOC = (f"# Deploy notes\n\nSet OPENAI_API_KEY={KEY} in the environment before the deploy.\n\n{PEM}\n\n"
       "Questions go to ops lead maria.keller@example.org or +44 20 7946 0958.\n")


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
    assert KEY not in json.dumps(report.to_dict())  # labels and counts, never the value
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
    run = subprocess.run([sys.executable, "-m", "ragwright", "ingest", str(tmp_path / "d"), "--data-dir",
                          str(tmp_path / "data")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "flagged:" in run.stderr and "deploy.md" in run.stderr and KEY not in run.stderr + run.stdout
