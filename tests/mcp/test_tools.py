"""The MCP package's small parts: a document's text from its chunks, its URIs, its place in the layers."""

from __future__ import annotations

from pathlib import Path

import ragwright
from ragwright.mcp.tools import URI_PREFIX, stitch, uri_of
from tests.test_public_api import _imported


def test_overlapping_chunks_are_stitched_into_the_text_once() -> None:
    words = [f"word{i}" for i in range(60)]
    first, second = " ".join(words[:40]), " ".join(words[30:])  # ten words repeated, as chunk_overlap does
    assert stitch([first, second]) == " ".join(words)


def test_chunks_that_share_nothing_or_little_are_joined_by_a_blank_line() -> None:
    assert stitch(["# Leave\n\nFirst section.", "Second section."]) == "# Leave\n\nFirst section.\n\nSecond section."
    assert stitch(["ends with the", "the next"]) == "ends with the\n\nthe next"  # a short accidental match
    assert stitch([]) == "" and stitch(["only"]) == "only"


def test_a_uri_names_any_document_id_unambiguously() -> None:
    assert uri_of("d_0123456789abcdef") == URI_PREFIX + "d_0123456789abcdef"
    assert uri_of("a/b?c") == URI_PREFIX + "a%2Fb%3Fc"


def test_only_the_cli_and_the_server_app_import_the_mcp_package() -> None:
    """ragwright.mcp is the top layer: it imports the workspace and the server's auth, and nothing
    below it imports it back (only `ragwright mcp` and the app that mounts /mcp)."""
    root = Path(ragwright.__file__).parent
    allowed = {root / "cli" / "mcp.py", root / "server" / "app.py"}
    importers = [
        f"{path.relative_to(root)}:{line}"
        for path in root.rglob("*.py")
        if not path.is_relative_to(root / "mcp") and path not in allowed
        for module, line in _imported(path, root)
        if (module + ".").startswith("ragwright.mcp.")
    ]
    assert not importers, importers
    assert any(m.startswith("ragwright.mcp.") for m, _ in _imported(root / "server" / "app.py", root))
