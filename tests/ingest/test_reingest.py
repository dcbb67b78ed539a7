"""Files ingested before the text extraction changed are parsed again, not skipped as unchanged."""

from ragwright.ingest import pipeline


def test_a_new_extraction_version_reingests_unchanged_files(workspace, corpus, monkeypatch):
    assert workspace.ingest([corpus / "expenses.html"]).ingested == 1
    assert workspace.ingest([corpus / "expenses.html"]).unchanged == 1
    monkeypatch.setattr(pipeline, "EXTRACTION_VERSION", pipeline.EXTRACTION_VERSION + 1)
    report = workspace.ingest([corpus / "expenses.html"])
    assert report.ingested == 1 and report.unchanged == 0
