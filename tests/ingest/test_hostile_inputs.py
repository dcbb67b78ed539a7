"""Inputs found in review to hang or crash ingestion; each must fail alone, with a reason."""

import io
import os
import time
import zipfile

from ragwright import TextRecord
from ragwright.ingest.parsers import parse_markdown

from .hostile_files import empty_paragraphs_docx


def test_heading_with_a_huge_run_of_spaces_parses_at_once():
    doc = parse_markdown("# a" + " " * 50_000 + "b\n\ntext\n")
    assert doc.blocks[0].kind == "heading" and doc.blocks[0].text.endswith("b")


def test_a_horizontal_rule_first_is_not_front_matter():
    doc = parse_markdown("---\n\nIntro paragraph that matters.\n\n---\n\nRest.\n")
    assert [b.text for b in doc.blocks] == ["Intro paragraph that matters.", "Rest."]


def test_broken_docx_xml_and_odd_files_fail_alone(workspace, corpus):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>',
        )
        zf.writestr("word/document.xml", "<w:document><w:body><w:p>unterminated")
    (corpus / "broken.docx").write_bytes(buf.getvalue())
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    os.mkfifo(corpus / "pipe.txt")
    outside = corpus.parent / "outside.md"
    outside.write_text("# Outside\n\nSecret text from elsewhere.\n")
    (corpus / "link.md").symlink_to(outside)
    report = workspace.ingest([corpus])
    errors = {f.path.rsplit("/", 1)[-1]: f.error for f in report.failed}
    assert report.ingested == 6
    assert set(errors) == {"broken.docx", "loop.md", "pipe.txt", "link.md"}
    assert errors["broken.docx"].startswith("DOCX cannot be read") or errors["broken.docx"].startswith("cannot parse")
    assert "not a regular file" in errors["pipe.txt"]
    assert "links outside" in errors["link.md"]
    assert "cannot resolve" in errors["loop.md"]


def test_a_docx_of_empty_paragraphs_fails_alone_and_quickly(workspace, corpus):
    """Issue 16: 31 KB that expand to 20 MiB of empty paragraphs held ingestion for 82 s and 1.2 GB."""
    (corpus / "bomb.docx").write_bytes(empty_paragraphs_docx(20))
    started = time.monotonic()
    report = workspace.ingest([corpus])
    errors = {f.path.rsplit("/", 1)[-1]: f.error for f in report.failed}
    assert report.ingested == 6 and set(errors) == {"bomb.docx"}
    assert "limit: ingest.max_docx_xml_elements" in errors["bomb.docx"]
    assert time.monotonic() - started < 40


def test_changing_the_chunk_size_reingests(workspace, corpus):
    workspace.ingest([corpus / "leave-policy.md"])
    before = workspace.store.stats()["chunks"]
    workspace.settings.ingest.chunk_tokens = 40
    report = workspace.ingest([corpus / "leave-policy.md"])
    assert report.ingested == 1 and workspace.store.stats()["chunks"] > before


def test_records_metadata_changes_and_source_conflicts(workspace):
    workspace.ingest_records(
        [TextRecord(id="a", text="Budget for the solar roof.", metadata={"year": 2020}, source="/shared")]
    )
    assert workspace.search("solar", filters={"metadata.year": "2020"})  # typed on a command line
    assert workspace.search("solar", filters={"metadata.year": 2020})
    report = workspace.ingest_records(
        [TextRecord(id="a", text="Budget for the solar roof.", metadata={"year": 2021}, source="/shared")]
    )
    assert report.ingested == 1 and workspace.search("solar", filters={"metadata.year": 2021})
    clash = workspace.ingest_records([TextRecord(id="b", text="Other.", source="/shared")])
    assert clash.ingested == 0 and "already belongs to document 'a'" in clash.failed[0].error
    assert workspace.store.get_document("a") is not None


def test_delete_a_relative_path_after_the_file_is_gone(workspace, corpus, monkeypatch):
    workspace.ingest([corpus])
    monkeypatch.chdir(corpus)
    os.remove("onboarding.md")
    assert workspace.delete("onboarding.md").source.endswith("onboarding.md")
