"""The web UI in headless Chromium: Debian's /usr/bin/chromium driven by Playwright's Python
package (never `playwright install`), against the real `ragwright serve` process on loopback.

Screenshots go to $RAGWRIGHT_TEST_ARTIFACTS/ui when that is set, else to tests/ui/artifacts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ragwright import Workspace
from tests.conftest import SAMPLE_CORPUS
from tests.evaluate.test_retrieval_eval import make_beir
from tests.server.live import LiveServer

CHROMIUM = Path(os.environ.get("RAGWRIGHT_CHROMIUM", "/usr/bin/chromium"))
QUESTION = "How many vacation days do full-time employees get?"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install --no-deps -r requirements/dev.txt)")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    with sync_playwright() as pw:
        # --no-sandbox: Chromium refuses to start as root otherwise
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    root = os.environ.get("RAGWRIGHT_TEST_ARTIFACTS")
    path = Path(root) / "ui" if root else Path(__file__).parent / "artifacts"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory, embedder):
    """A server with the sample corpus (uploaded for tenant acme), one evaluation run, and keys."""
    root = tmp_path_factory.mktemp("ui")
    server = LiveServer(root / "data")
    keys = {"admin": server.key("acme", "read,write,admin"), "reader": server.key("acme", "read")}
    with Workspace(server.data_dir, embedder=embedder) as ws:  # a tiny run, so the charts have data
        ws.evaluate_retrieval(make_beir(root / "tiny"), tenant="acme")  # the keys' tenant: its admins see it
    server.start()
    try:
        with server.client(keys["admin"]) as admin:
            files = [("file", (p.name, p.read_bytes())) for p in sorted(SAMPLE_CORPUS.iterdir())]
            job = server.wait_job(admin, admin.post("/v1/documents", files=files).json()["job_id"])
            assert job["status"] == "done" and job["result"]["ingested"] == 6, job
        yield server, keys
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.ui_failed = report.failed


@pytest.fixture
def page(request, browser, ui_server, artifacts):
    """A fresh browser context per test; JavaScript errors and CSP violations fail the test, and every
    request must stay on the server (the UI works offline). A failing test leaves a screenshot."""
    server, _ = ui_server
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    tab.on("request", lambda r: None if r.url.startswith((server.url, "data:")) else foreign.append(r.url))
    yield tab
    if getattr(request.node, "ui_failed", False):
        tab.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not foreign, f"requests that left the server: {foreign}"


def sign_in(page, key: str, path: str = "/") -> None:
    page.goto(path)
    page.fill("#key-input", key)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-prompt", state="hidden")
