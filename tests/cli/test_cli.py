"""End-to-end: the installed `ragwright` command on real files, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.filemakers import make_docx, make_encrypted_pdf, make_pdf, make_zip_bomb_docx

pytestmark = pytest.mark.slow
RAGWRIGHT = [sys.executable, "-m", "ragwright"]
SMALL_BATCHES = {**os.environ, "RAGWRIGHT_INGEST__BATCH_CHUNKS": "64"}  # commits often, so a kill lands mid-run
# enough that Ctrl-C after the first commit lands mid-run: the fused graph embeds 300 one-chunk
# documents in under a second, before the signal arrived
DOCS_TO_INTERRUPT = 3000


def run(*args: str, cwd: Path | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([*RAGWRIGHT, *args], capture_output=True, text=True, cwd=cwd, timeout=300, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}")
    return proc


def test_ingest_search_ask_delete(tmp_path, corpus):
    data = str(tmp_path / "data")
    summary = json.loads(run("ingest", str(corpus), "--data-dir", data, "--json").stdout)
    assert summary == {
        "ingested": 6,
        "unchanged": 0,
        "failed": [],
        "skipped": [],
        "chunks": summary["chunks"],
        "pruned": 0,
        "flagged": [],
    }
    again = json.loads(run("ingest", str(corpus), "--data-dir", data, "--json").stdout)
    assert (again["ingested"], again["unchanged"]) == (0, 6)

    results = json.loads(run("search", "home office allowance", "--k", "3", "--data-dir", data, "--json").stdout)
    assert len(results["results"]) == 3
    top = results["results"][0]
    assert {"doc_id", "chunk_id", "source", "score", "text"} <= set(top)
    assert top["source"].endswith("remote-work.pdf") and "500 euros" in top["text"]

    answer = json.loads(run("ask", "How long is parental leave?", "--data-dir", data, "--json").stdout)
    assert answer["abstained"] is False and "16 weeks" in answer["answer"] and "[1]" in answer["answer"]
    assert set(answer["citations"][0]) == {"n", "doc_id", "chunk_id", "source", "text", "score", "location"}

    plain = run("ask", "How long is parental leave?", "--data-dir", data).stdout
    assert "Sources:" in plain and "leave-policy.md (Leave Policy > Parental leave)" in plain

    doc_id = answer["citations"][0]["doc_id"]
    deleted = json.loads(run("delete", doc_id, "--data-dir", data, "--json").stdout)
    assert deleted["deleted"] == doc_id
    after = json.loads(run("search", "parental leave 16 weeks", "--data-dir", data, "--json").stdout)
    assert all(r["doc_id"] != doc_id for r in after["results"])
    missing = run("delete", doc_id, "--data-dir", data, check=False)
    assert missing.returncode == 2 and "no document" in missing.stderr


def test_every_bad_input_gets_one_line_and_the_rest_is_ingested(tmp_path, corpus):
    bad = corpus / "bad"
    bad.mkdir()
    (bad / "empty.md").write_bytes(b"")
    (bad / "binary.md").write_bytes(bytes(range(256)) * 4)
    (bad / "latin1.txt").write_bytes("na\u00efve caf\u00e9".encode("latin-1"))
    pdf = make_pdf(bad / "truncated.pdf", [["Some text."] * 3])
    pdf.write_bytes(pdf.read_bytes()[:300])
    make_encrypted_pdf(bad / "locked.pdf")
    make_zip_bomb_docx(bad / "bomb.docx", expanded_mb=300)
    (bad / "huge.txt").write_bytes(b"word " * (11 * 1024 * 1024 // 5))
    config = tmp_path / "ragwright.toml"
    config.write_text("[ingest]\nmax_file_mb = 10\n")
    proc = run(
        "ingest",
        str(corpus),
        str(tmp_path / "nope"),
        "--data-dir",
        str(tmp_path / "d"),
        "--config",
        str(config),
        "--json",
        check=False,
    )
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert summary["ingested"] == 6
    errors = {Path(f["path"]).name: f["error"] for f in summary["failed"]}
    assert set(errors) == {
        "empty.md",
        "binary.md",
        "latin1.txt",
        "truncated.pdf",
        "locked.pdf",
        "bomb.docx",
        "huge.txt",
        "nope",
    }
    expectations = {
        "empty.md": "empty",
        "binary.md": "binary",
        "latin1.txt": "UTF-8",
        "truncated.pdf": "truncated",
        "locked.pdf": "encrypted",
        "bomb.docx": "zip bomb",
        "huge.txt": "over the limit of 10 MB",
        "nope": "no such file",
    }
    for name, needle in expectations.items():
        assert needle in errors[name] and "\n" not in errors[name], (name, errors[name])
    docs = json.loads(run("documents", "--data-dir", str(tmp_path / "d"), "--json").stdout)
    assert len(docs["documents"]) == 6 and len(docs["failed"]) == 7

    human = run("ingest", str(bad / "empty.md"), "--data-dir", str(tmp_path / "d"), check=False)
    assert human.returncode == 1 and f"failed: {bad / 'empty.md'}: file is empty" in human.stderr


def test_folder_without_permission(tmp_path, corpus):
    """Root reads everything, so as root the command runs without the capabilities that let it."""
    docs = tmp_path / "docs"
    shutil.copytree(corpus, docs)
    locked = docs / "private"
    locked.mkdir()
    (locked / "secret.md").write_text("# Secret\n\nhidden")
    locked.chmod(0)
    prefix = []
    if os.geteuid() == 0:
        prefix = [
            "setpriv",
            "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search",
        ]
    try:
        proc = subprocess.run(
            [*prefix, *RAGWRIGHT, "ingest", str(docs), "--data-dir", str(tmp_path / "data"), "--json"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        locked.chmod(0o700)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ingested"] == 6
    assert summary["failed"] == [{"path": str(locked), "error": "permission denied: cannot list this folder"}]


@pytest.mark.parametrize("question, needle", [("", "empty"), ("x" * 100_000, "100,000 characters")])
def test_bad_questions(tmp_path, question, needle):
    for command in ("ask", "search"):
        proc = run(command, question, "--data-dir", str(tmp_path / "d"), check=False)
        assert proc.returncode == 2 and needle in proc.stderr and proc.stderr.count("\n") == 1


def test_bad_config_is_reported_with_file_and_key(tmp_path):
    config = tmp_path / "ragwright.toml"
    config.write_text("[retrieval]\nbm25_wieght = 2\n")
    proc = run("search", "x", "--config", str(config), "--data-dir", str(tmp_path / "d"), check=False)
    assert proc.returncode == 2
    assert str(config) in proc.stderr and "retrieval.bm25_wieght" in proc.stderr and "bm25_weight" in proc.stderr


def test_init_writes_a_config_that_loads(tmp_path):
    run("init", cwd=tmp_path)
    assert (tmp_path / "ragwright.toml").exists()
    assert run("init", cwd=tmp_path, check=False).returncode == 2
    run("search", "anything", "--json", cwd=tmp_path)  # picks up ./ragwright.toml


def test_data_dir_from_environment(tmp_path, corpus):
    env = {**os.environ, "RAGWRIGHT_HOME": str(tmp_path / "home")}
    run("ingest", str(corpus / "onboarding.md"), "--json", env=env, cwd=tmp_path)
    assert (tmp_path / "home" / "ragwright.db").exists() and not (tmp_path / ".ragwright").exists()


def _wait_for_documents(db: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the ingesting process has committed at least one document."""

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                if sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM documents").fetchone()[0]:
                    return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError("no document was committed in time")


def test_kill_9_mid_ingestion_leaves_no_half_document_and_rerun_finishes(tmp_path):
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(400):
        body = "\n\n".join(f"Document {i} paragraph {j} about topic {i * 7 + j}." for j in range(4))
        (docs / f"doc{i:03}.md").write_text(f"# Doc {i}\n\n{body}\n")
    data = tmp_path / "d"
    proc = subprocess.Popen(
        [*RAGWRIGHT, "ingest", str(docs), "--data-dir", str(data), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=SMALL_BATCHES,
    )
    _wait_for_documents(data / "ragwright.db", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    conn = sqlite3.connect(data / "ragwright.db")
    n_docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert 0 < n_docs < 400, "the kill should land mid-ingestion"
    bad = conn.execute(
        "SELECT count(*) FROM documents d WHERE n_chunks != (SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id)"
    ).fetchone()[0]
    counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("chunks", "chunk_terms", "vectors")]
    conn.close()
    assert bad == 0 and counts[0] == counts[1] == counts[2]
    summary = json.loads(run("ingest", str(docs), "--data-dir", str(data), "--json").stdout)
    assert summary["unchanged"] == n_docs and summary["ingested"] == 400 - n_docs and summary["failed"] == []


def as_in_a_terminal() -> None:
    """Ctrl-C as a terminal's foreground process gets it: a suite started in the background (`make
    test &`, nohup) ignores SIGINT, and its children inherit that, so Python would never raise
    KeyboardInterrupt in them."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_with_ctrl_c(tmp_path):
    docs = tmp_path / "many"
    docs.mkdir()
    for i in range(DOCS_TO_INTERRUPT):
        (docs / f"d{i}.txt").write_text(" ".join(f"Text {i} sentence {j}." for j in range(12)))
    proc = subprocess.Popen(
        [*RAGWRIGHT, "ingest", str(docs), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SMALL_BATCHES,
        preexec_fn=as_in_a_terminal,
    )
    _wait_for_documents(tmp_path / "d" / "ragwright.db", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command again" in err
    summary = json.loads(run("ingest", str(docs), "--data-dir", str(tmp_path / "d"), "--json").stdout)
    assert summary["ingested"] + summary["unchanged"] == DOCS_TO_INTERRUPT and summary["failed"] == []


def test_all_formats_through_the_cli(tmp_path):
    folder = tmp_path / "formats"
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha\n\n## Beta\n\nThe aardvark lives in Africa.\n")
    (folder / "b.txt").write_text("Bananas are berries, botanically speaking.\n")
    (folder / "c.html").write_text(
        "<html><head><title>Cats</title></head><body><h1>Cats</h1><p>Cats purr when content.</p></body></html>"
    )
    make_pdf(folder / "d.pdf", [["Dolphins sleep with one eye open."], ["Deer shed their antlers each year."]])
    make_docx(folder / "e.docx", [("Eels", ["Electric eels can produce 600 volts."])])
    data = str(tmp_path / "d")
    assert json.loads(run("ingest", str(folder), "--data-dir", data, "--json").stdout)["ingested"] == 5
    checks = {
        "aardvark Africa": ("a.md", ["Alpha", "Beta"], None),
        "cats purr": ("c.html", ["Cats"], None),
        "deer antlers": ("d.pdf", [], 2),
        "electric eels volts": ("e.docx", ["Eels"], None),
        "bananas berries": ("b.txt", [], None),
    }
    for query, (name, headings, page) in checks.items():
        top = json.loads(run("search", query, "--k", "1", "--data-dir", data, "--json").stdout)["results"][0]
        assert top["source"].endswith(name) and top["heading_path"] == headings and top["page"] == page, top


def test_progress_bar_on_a_terminal(tmp_path, corpus):
    """On a terminal (a pseudo-terminal here) ingest draws a Rich progress bar on stderr."""
    import pty

    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [*RAGWRIGHT, "ingest", str(corpus), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=child,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(child)
    screen = b""
    while True:
        try:
            data = os.read(parent, 4096)
        except OSError:
            break
        if not data:
            break
        screen += data
    proc.wait(timeout=120)
    os.close(parent)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0
    assert "ingesting" in text and "6/6" in text
    assert "6 ingested, 0 unchanged, 0 failed" in text


def test_search_filters_from_the_command_line(tmp_path, corpus):
    data = str(tmp_path / "d")
    run("ingest", str(corpus), "--data-dir", data)
    out = json.loads(run("search", "days", "--filter", "format=pdf", "--data-dir", data, "--json").stdout)
    assert out["results"] and all(r["source"].endswith(".pdf") for r in out["results"])
    both = json.loads(
        run(
            "search",
            "days",
            "--filter",
            "format=pdf",
            "--filter",
            "format=docx",
            "--k",
            "20",
            "--data-dir",
            data,
            "--json",
        ).stdout
    )
    assert {Path(r["source"]).suffix for r in both["results"]} == {".pdf", ".docx"}
    bad = run("search", "days", "--filter", "colour=red", "--data-dir", data, check=False)
    assert bad.returncode == 2 and "unknown filter field 'colour'" in bad.stderr


def test_a_group_name_with_a_line_break_is_refused_by_keys_create_and_ingest(tmp_path, corpus):
    """Review 13 (LOW): groups joined by line in a cache scope: "a\\nb" must not be a group."""
    data = ["--data-dir", str(tmp_path / "d")]
    made = run("keys", "create", "--tenant", "t1", "--groups", "a\nb", *data, check=False)
    ingested = run("ingest", str(corpus), "--groups", "hr,a\tb", *data, check=False)
    for proc in (made, ingested):
        assert proc.returncode == 2 and "not a group name" in proc.stderr, proc.stderr
    assert "rw_" not in made.stdout
