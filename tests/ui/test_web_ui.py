"""End-to-end: the web UI served by `ragwright serve` at `/`, in headless Chromium."""

import re

import httpx
import pytest

from ragwright.store import SqliteStore
from tests.ui.conftest import QUESTION, sign_in

pytestmark = pytest.mark.slow


def test_assets_need_no_key_hold_no_data_and_load_nothing_from_elsewhere(ui_server):
    server, _ = ui_server
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    for asset in re.findall(r'(?:src|href)="(/ui/[^"]+)"', page.text):
        res = httpx.get(server.url + asset)
        assert res.status_code == 200 and "content-security-policy" in res.headers, asset
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", res.text), f"{asset} names an outside URL"
    assert httpx.get(server.url + "/ui/nope.js").json()["error"]["type"] == "not_found"
    head = httpx.head(server.url + "/")  # what uptime checkers send
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"].startswith("text/html")
    paths = httpx.get(server.url + "/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/ui") for p in paths)


def test_ask_streams_a_cited_answer_feedback_is_stored_and_the_trace_is_found(page, ui_server, artifacts):
    server, keys = ui_server
    page.goto("/")
    page.wait_for_selector("#key-input")
    page.screenshot(path=str(artifacts / "01-key-prompt.png"))
    sign_in(page, keys["admin"])

    # every change of the answer's text is recorded: it must grow in steps, not appear at once
    page.evaluate("""() => {
        window.answerLengths = [];
        new MutationObserver(() => {
            const el = document.getElementById('answer');
            if (el) window.answerLengths.push(el.textContent.length);
        }).observe(document.getElementById('view'), {subtree: true, childList: true, characterData: true});
    }""")
    page.fill("#question", QUESTION)
    page.click(".ask-form button[type=submit]")
    answer = page.wait_for_selector("#answer[data-state=done]")
    text = answer.text_content()
    assert "25 days" in text and "[1]" in text, text
    lengths = sorted(set(page.evaluate("window.answerLengths")))
    assert len(lengths) > 3 and lengths[-1] == len(text), lengths  # streamed in, delta by delta
    trace_id = answer.get_attribute("data-trace-id")
    assert trace_id.startswith("t")
    page.screenshot(path=str(artifacts / "02-answer.png"), full_page=True)

    page.click("#answer .cite[data-n='1']")
    passage = page.wait_for_selector("#passage[data-n='1']")
    assert "leave-policy.md" in passage.text_content()
    assert "25 days of paid vacation" in page.text_content("#passage .passage-text")
    assert "Vacation" in page.text_content("#passage .location")  # the heading it sits under
    page.screenshot(path=str(artifacts / "03-passage.png"), full_page=True)

    chunk_id = page.get_attribute(".sources li[data-n='1']", "data-chunk")
    page.click(".feedback .thumb.up")
    page.click(".sources li[data-n='1'] .mark.yes")
    assert page.get_attribute(".sources li[data-n='1'] .mark.yes", "aria-pressed") == "true"
    page.click(".feedback button.primary")
    page.wait_for_selector(".feedback .status.ok")
    feedback_id = re.search(r"f_[0-9a-f]+", page.text_content(".feedback .status")).group()
    page.screenshot(path=str(artifacts / "04-feedback.png"), full_page=True)
    store = SqliteStore(server.data_dir / "ragwright.db")
    try:
        stored = next(f for f in store.list_feedback("acme") if f["feedback_id"] == feedback_id)
    finally:
        store.close()
    assert stored["trace_id"] == trace_id and stored["rating"] == 1.0 and stored["query"] == QUESTION
    assert stored["marks"] == [{"chunk_id": chunk_id, "doc_id": chunk_id.split("#")[0], "relevant": True}]

    page.click("#nav a[data-view=traces]")
    row = page.wait_for_selector(f".trace-row[data-trace-id='{trace_id}']")
    assert QUESTION in row.text_content() and "ask" in row.text_content()
    page.screenshot(path=str(artifacts / "05-traces.png"), full_page=True)
    row.query_selector("a").click()
    page.wait_for_selector(".timeline .span-row[data-name=retrieve]")
    names = page.eval_on_selector_all(".timeline .span-row[data-span-id]", "rows => rows.map(r => r.dataset.name)")
    assert names[:5] == ["retrieve", "embed_query", "bm25", "dense", "fusion"] and "generate" in names, names
    boxes = {n: page.locator(f".span-row[data-name='{n}'] .bar").bounding_box() for n in ("retrieve", "bm25", "dense")}
    indent = {
        n: page.locator(f".span-row[data-name='{n}'] .span-name").evaluate("e => parseFloat(e.style.paddingLeft)")
        for n in ("retrieve", "bm25")
    }
    assert indent["bm25"] > indent["retrieve"]  # nested under its parent
    assert boxes["retrieve"]["x"] <= boxes["bm25"]["x"] < boxes["dense"]["x"]  # placed by start offset
    assert boxes["dense"]["width"] <= boxes["retrieve"]["width"] + 1  # sized by duration, inside its parent
    page.click(".span-row[data-name=retrieve]")
    assert QUESTION in page.text_content(".span-row[data-name=retrieve] + .span-detail")
    page.screenshot(path=str(artifacts / "06-trace-timeline.png"), full_page=True)


def test_a_follow_up_is_asked_with_the_conversation_and_shows_what_was_searched_for(page, ui_server, artifacts):
    _, keys = ui_server
    sign_in(page, keys["reader"])
    page.fill("#question", QUESTION)
    page.click(".ask-form button[type=submit]")
    page.wait_for_selector("#answer[data-state=done]")
    assert page.locator("#rewritten").count() == 0  # a first question is searched for as typed
    assert page.input_value("#question") == ""  # ready for the next one
    page.fill("#question", "Can unused ones be carried over?")
    page.click(".ask-form button[type=submit]")
    rewritten = page.wait_for_selector("#rewritten")
    assert "carried over" in rewritten.text_content() and "vacation days" in rewritten.text_content()
    answer = page.wait_for_selector("#answer[data-state=done]")
    assert "5" in answer.text_content() or "March 31" in answer.text_content(), answer.text_content()
    assert QUESTION in page.text_content(".earlier")
    page.screenshot(path=str(artifacts / "02b-follow-up.png"), full_page=True)
    page.click("#new-conversation")  # forgets the conversation: the follow-up alone is asked as typed
    assert page.locator(".earlier").count() == 0 and page.is_hidden("#new-conversation")
    page.fill("#question", "Can unused ones be carried over?")
    page.click(".ask-form button[type=submit]")
    page.wait_for_selector("#answer[data-state=done]")
    assert page.locator("#rewritten").count() == 0


def test_documents_upload_with_progress_escaping_and_delete(page, ui_server, artifacts):
    server, keys = ui_server
    sign_in(page, keys["admin"], "/#documents")
    page.wait_for_selector(".doc-row[data-source='leave-policy.md']")
    # inline code keeps markup as text (raw HTML in Markdown is markup, and ingest drops it)
    hostile = '# `<img src=x onerror="window.pwned=1">` Rooftop garden\nThe rooftop garden opens at noon.\n'
    page.set_input_files(
        "#upload-file", files=[{"name": "ui-note.md", "mimeType": "text/markdown", "buffer": hostile.encode()}]
    )
    page.click("#upload-form button[type=submit]")
    job = page.wait_for_selector(".job[data-state=done]")
    assert "1 ingested" in job.text_content()
    assert job.eval_on_selector("progress", "p => p.value === p.max && p.max === 1")
    row = page.wait_for_selector(".doc-row[data-source='ui-note.md']")
    assert '<img src=x onerror="window.pwned=1"> Rooftop garden' in row.text_content()  # shown as text
    assert row.query_selector("img") is None and page.evaluate("window.pwned") is None
    page.screenshot(path=str(artifacts / "07-documents-uploaded.png"), full_page=True)

    doc_id = row.get_attribute("data-doc-id")
    row.query_selector("button.danger").click()
    row.query_selector("button.danger").click()  # "Delete for good?"
    page.wait_for_selector(".doc-row[data-source='ui-note.md']", state="detached")
    assert page.locator(".doc-row").count() == 6
    with server.client(keys["admin"]) as admin:
        assert admin.get(f"/v1/documents/{doc_id}").status_code == 404
    page.screenshot(path=str(artifacts / "08-documents-deleted.png"), full_page=True)


def test_evaluation_runs_are_charted(page, ui_server, artifacts):
    _server, keys = ui_server
    sign_in(page, keys["admin"], "/#eval")
    row = page.wait_for_selector(".run-row")
    assert "tiny" in row.text_content()
    assert page.locator("svg.chart.columns rect.value").count() == 1  # one column per run
    page.screenshot(path=str(artifacts / "09-eval-runs.png"), full_page=True)
    row.query_selector("a").click()
    page.wait_for_selector("svg.chart.bars")
    labels = page.eval_on_selector_all("svg.chart.bars .bar-row", "gs => gs.map(g => g.dataset.label)")
    assert "ndcg@10" in labels and "recall@100" in labels
    widths = page.eval_on_selector_all("svg.chart.bars rect.value", "rs => rs.map(r => r.width.baseVal.value)")
    assert all(w > 100 for w in widths)  # the tiny dataset is solved: every metric is 1.0, a full bar
    assert page.locator("svg.chart.columns rect.value").count() == 10  # the per-query histogram
    page.select_option(".metric-select", "mrr@10")
    assert "Lowest mrr@10" in page.text_content("main")
    page.screenshot(path=str(artifacts / "10-eval-run.png"), full_page=True)


def test_no_key_or_a_wrong_key_shows_an_error_and_no_data(page, ui_server, artifacts):
    _server, keys = ui_server
    calls = []
    page.on("request", lambda r: calls.append(r.url) if "/v1/" in r.url else None)
    page.goto("/#documents")
    page.wait_for_selector("#key-input")
    assert calls == [] and page.locator(".doc-row").count() == 0  # no key: no data call at all

    page.fill("#key-input", "rw_not_a_real_key")
    page.click("#key-form button[type=submit]")
    error = page.wait_for_selector("#key-error:not([hidden])")
    assert "not accepted" in error.text_content() and "unknown or revoked" in error.text_content()
    assert page.locator("#view").is_hidden() and page.locator(".doc-row").count() == 0
    page.screenshot(path=str(artifacts / "11-wrong-key.png"))

    # a key that stops working (revoked, or a stored one that is wrong): the view's call gets a 401
    page.evaluate("sessionStorage.setItem('ragwright.key', 'rw_revoked_meanwhile')")
    page.reload()
    page.wait_for_selector("#key-error:not([hidden])")
    assert "not accepted" in page.text_content("#key-error") and page.locator(".doc-row").count() == 0
    assert page.evaluate("sessionStorage.getItem('ragwright.key')") is None  # the bad key is forgotten

    # a valid key without the admin scope: the evaluation view says why, and shows no run
    sign_in(page, keys["reader"], "/#eval")
    assert "admin" in page.wait_for_selector("main .error").text_content()
    assert page.locator(".run-row").count() == 0 and page.locator("svg.chart").count() == 0
    page.screenshot(path=str(artifacts / "12-reader-no-admin.png"))
