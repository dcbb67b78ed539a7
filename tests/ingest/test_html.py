"""HTML text that keeps its meaning: main content only, code and inline code as written, tables
as rows, definition lists and admonitions readable; on Sphinx-, DocBook- and ordinary-site-shaped
fixtures, on real pages of the PostgreSQL manual, and on hostile pages."""

import time
from pathlib import Path

import pytest

from ragwright.ingest.chunking import Chunker, split_sentences
from ragwright.ingest.parsers import ParseError, parse, parse_html
from tests.conftest import shared_data

FIXTURES = Path(__file__).parent / "fixtures"


def _page(name: str):
    return parse_html((FIXTURES / name).read_text(encoding="utf-8"))


def _texts(doc) -> str:
    return "\n".join(b.text for b in doc.blocks)


def test_sphinx_page_main_content_without_permalinks_or_navigation():
    doc = _page("sphinx_page.html")
    text = _texts(doc)
    assert doc.title == "tally — Count things in streams"  # not "... — Tally 2.1 documentation"
    assert "¶" not in text
    for chrome in (
        "Table of Contents",
        "Previous topic",
        "Report a Bug",
        "Quick search",
        "modules",
        "Copyright",
        "Created using",
        "Navigation",
        "Tally home",
    ):
        assert chrome not in text, chrome
    assert doc.blocks[0].kind == "heading" and doc.blocks[0].text == "tally — Count things in streams"


def test_sphinx_inline_code_and_signatures_as_written():
    doc = _page("sphinx_page.html")
    text = _texts(doc)
    assert "Call tally.count(items, *, window=None) for a one-off count." in text
    headings = [b.text for b in doc.blocks if b.kind == "heading"]
    assert "tally.count(items, *, window=None, approximate=False)" in headings
    assert "json. " not in text and " ( " not in text and "tally. count" not in text


def test_sphinx_code_block_keeps_its_lines():
    code = [b for b in _page("sphinx_page.html").blocks if b.kind == "code"]
    assert code[0].text == (
        ">>> import tally\n>>> with open('words.txt') as f:\n"
        "...     counts = tally.count(f.read().split())\n>>> counts.most_common(1)\n[('the', 412)]"
    )


def test_sphinx_definitions_admonitions_and_tables():
    doc = _page("sphinx_page.html")
    blocks = [(b.kind, b.level, b.text) for b in doc.blocks]
    # a function with paragraphs of description heads its own section, closed after it
    i = blocks.index(("heading", 3, "tally.count(items, *, window=None, approximate=False)"))
    assert blocks[i + 1] == ("paragraph", 0, "Count the hashable items and return a Counts mapping.")
    assert ("paragraph", 0, "Raises: TypeError \u2013 if an item is not hashable.") in blocks
    assert ("heading", 3, "") in blocks[i:]
    # a one-paragraph definition reads "term: definition"
    assert ("paragraph", 0, "tally.merge(*counts): Add several Counts together into a new one.") in blocks
    assert ("paragraph", 0, "Warning: Counts kept with approximate=True may be off by up to one percent.") in blocks
    assert ("paragraph", 0, "Note: A Counts object is not thread-safe.") in blocks
    table = next(b for b in doc.blocks if b.kind == "table")
    assert table.text.split("\n") == [
        "Type | Counted as",
        "str | one item",
        "tuple | one item, if all its members are hashable",
    ]
    assert table.header_rows == 1


def test_sphinx_chunks_keep_the_function_in_their_heading_path():
    doc = _page("sphinx_page.html")
    chunks = Chunker(max_tokens=200).chunk("d", doc.blocks, doc.title)
    window = next(c for c in chunks if "only the last window items are counted" in c.text)
    assert window.heading_path[-1] == "tally.count(items, *, window=None, approximate=False)"
    after = next(c for c in chunks if "The types that count() accepts" in c.text)
    assert after.heading_path == ["tally — Count things in streams", "Basic Usage"]  # the function's section ended


def test_generic_site_keeps_the_article_only():
    doc = _page("generic_site.html")
    text = _texts(doc)
    assert doc.title == "Rotating deploy keys"
    for chrome in (
        "cookies",
        "Accept all",
        "Skip to content",
        "Sign in",
        "Pricing",
        "Popular",
        "Related posts",
        "SSH certificates",
        "Share on X",
        "Tags:",
        "All rights reserved",
        "dataLayer",
        "position: fixed",
    ):
        assert chrome not in text, chrome
    assert "Deploy keys should be rotated every 90 days. Run harbor keys rotate --project web to issue" in text
    assert ("paragraph", "List the keys with harbor keys list.") in [(b.kind, b.text) for b in doc.blocks]
    code = next(b for b in doc.blocks if b.kind == "code")
    assert code.text == "harbor keys rotate --project web\nharbor keys revoke --older-than 90d"
    table = next(b for b in doc.blocks if b.kind == "table")
    assert table.text == "Plan | Maximum lifetime\nFree | 30 days\nTeam | 90 days" and table.header_rows == 1


def test_docbook_page_without_navigation_bars_or_contents_list():
    doc = _page("docbook_page.html")
    blocks = [(b.kind, b.level, b.text) for b in doc.blocks]
    text = _texts(doc)
    assert doc.title == "3.2. Cache Settings"
    for chrome in ("Prev", "Next", "Home", "Chapter 3. Configuration", "3.2.2. Disk", "3.3. Logging"):
        assert chrome not in text, chrome
    assert "as in SET cache_size = '256MB'." in text
    assert blocks[blocks.index(("heading", 4, "cache_size (integer)")) + 1][2].startswith("Sets the amount of memory")
    assert (
        "paragraph",
        0,
        "cache_ttl (integer): How long an unused page stays cached, in seconds. The default is 600.",
    ) in blocks
    # the boxed note is not a heading: the text after it stays in its section
    assert ("paragraph", 0, "Note: Pages of temporary tables are never cached.") in blocks
    assert not any(k == "heading" and t == "Note" for k, _, t in blocks)
    assert ("code", 0, "ALTER SYSTEM SET cache_policy = 'clock';\nSELECT pg_reload_conf();") in blocks
    assert (
        "table",
        0,
        "Policy | Evicts\nlru | the least recently used page\nclock | a page whose reference bit is clear",
    ) in blocks


@pytest.fixture(scope="module")
def pgdocs() -> Path:
    return shared_data("pgdocs-qa") / "corpus"


def test_real_docbook_pages_of_the_postgresql_manual(pgdocs):
    index = parse_html((pgdocs / "sql-createindex.html").read_text(encoding="utf-8"))
    text = _texts(index)
    assert "Prev" not in text.split("\n") and "Up" not in text.split("\n")
    assert "an index computed on upper(col) would allow the clause WHERE upper(col) = 'JIM' to use an index." in text
    example = (
        "CREATE INDEX pointloc\n    ON points USING gist (box(location,location));\nSELECT * FROM points\n"
        "    WHERE box(location,location) && '(0,0),(1,1)'::box;"
    )
    assert example in [b.text for b in index.blocks if b.kind == "code"]
    synopsis = next(b.text for b in index.blocks if b.kind == "code")
    assert synopsis.startswith(
        "CREATE [ UNIQUE ] INDEX [ CONCURRENTLY ] [ [ IF NOT EXISTS ] name ] ON [ ONLY ] "
        "table_name [ USING method ]\n    ( { column_name"
    )

    resource = parse_html((pgdocs / "runtime-config-resource.html").read_text(encoding="utf-8"))
    chunks = Chunker(max_tokens=240).chunk("d", resource.blocks, resource.title)
    shared = next(c for c in chunks if "Sets the amount of memory the database server uses for shared" in c.text)
    assert shared.heading_path == ["20.4. Resource Consumption", "20.4.1. Memory", "shared_buffers (integer)"]
    assert "The default is typically 128 megabytes (128MB)" in shared.text and "\n " not in shared.text
    assert not any("Note" in c.heading_path for c in chunks)

    numeric = parse_html((pgdocs / "datatype-numeric.html").read_text(encoding="utf-8"))
    table = next(b for b in numeric.blocks if b.kind == "table" and b.text.startswith("Name | Storage Size"))
    assert "smallint | 2 bytes | small-range integer | -32768 to +32767" in table.text.split("\n")


def test_whole_postgresql_corpus_parses_without_navigation_or_permalinks(pgdocs):
    pages = sorted(pgdocs.glob("*.html"))
    assert len(pages) > 100
    started = time.perf_counter()
    for page in pages:
        doc = parse(page, page.read_bytes(), max_docx_bytes=1 << 20)
        lines = {b.text for b in doc.blocks}
        assert not lines & {"Prev", "Next", "Up", "Home"}, page.name
        assert not any("¶" in b.text or "\xa0" in b.text for b in doc.blocks), page.name
    assert time.perf_counter() - started < 60


def test_a_page_of_navigation_only_is_refused_with_a_reason():
    page = (
        "<html><head><title>Contents</title></head><body><nav><a href='/'>Home</a></nav>"
        "<h1>Contents</h1><div class='toctree-wrapper'><ul>"
        + "".join(f"<li><a href='ch{i}.html'>Chapter {i}: a topic</a></li>" for i in range(30))
        + "</ul></div><footer>© 2026</footer></body></html>"
    )
    with pytest.raises(ParseError, match="only navigation"):
        parse_html(page)


def test_an_empty_page_is_not_called_navigation(tmp_path):
    path = tmp_path / "blank.html"
    path.write_text("<html><head><title>x</title><script>var a = 1;</script></head><body> </body></html>")
    with pytest.raises(ParseError, match="no text found"):
        parse(path, path.read_bytes(), max_docx_bytes=1 << 20)


def test_a_5_mb_inline_script_is_ignored_quickly(tmp_path):
    script = "var payload = '" + "A<b>x</b>" * (5 * 1024 * 1024 // 9) + "';"
    path = tmp_path / "heavy.html"
    path.write_text(
        f"<html><body><h1>Guide</h1><p>Before the script.</p><script>{script}</script>"
        "<p>After the script.</p></body></html>"
    )
    assert path.stat().st_size > 5_000_000
    started = time.perf_counter()
    doc = parse(path, path.read_bytes(), max_docx_bytes=1 << 20)
    assert time.perf_counter() - started < 5
    assert [b.text for b in doc.blocks] == ["Guide", "Before the script.", "After the script."]


def test_a_code_block_of_10000_lines_is_chunked_at_line_boundaries(embedder):
    lines = [f"    total_{i} = compute(values[{i}]) + offset  # step {i}" for i in range(10_000)]
    page = (
        "<html><body><h1>Generated</h1><p>The generated table follows.</p><pre>"
        + "\n".join(lines)
        + "</pre></body></html>"
    )
    doc = parse_html(page)
    assert [b.kind for b in doc.blocks] == ["heading", "paragraph", "code"]
    started = time.perf_counter()
    chunks = Chunker(embedder.count_tokens, max_tokens=240, overlap_tokens=32).chunk("d", doc.blocks, doc.title)
    assert time.perf_counter() - started < 30
    sizes = embedder.count_tokens([c.context_text(doc.title) for c in chunks])
    assert max(sizes) <= 242
    code = [c.text[c.text.index("```\n") :] for c in chunks if "```" in c.text]
    assert len(code) == len(chunks) > 100 and all(t.endswith("\n```") for t in code)
    assert [ln for t in code for ln in t.split("\n")[1:-1]] == lines  # every line, whole, in order, once


def test_deeply_nested_markup_parses_without_recursion_errors():
    page = "<html><body>" + "<div><span>" * 1000 + "deep text" + "</span></div>" * 1000 + "</body></html>"
    doc = parse_html(page)
    assert "deep text" in _texts(doc)


def test_a_section_that_introduces_a_contents_list_keeps_its_words():
    page = (
        "<html><body><div class='body' role='main'><section><h1>Cryptographic Services</h1>"
        "<p>The modules described in this chapter implement algorithms of a cryptographic nature.</p>"
        "<div class='toctree-wrapper compound'><ul>"
        + "".join(
            f"<li><a href='m{i}.html'><code>mod{i}</code> — Module number {i} of the chapter</a></li>"
            for i in range(40)
        )
        + "</ul></div></section></div></body></html>"
    )
    doc = parse_html(page)
    assert [b.text for b in doc.blocks] == [
        "Cryptographic Services",
        "The modules described in this chapter implement algorithms of a cryptographic nature.",
    ]


def test_a_one_column_reference_table_reads_each_entry_with_its_name(pgdocs):
    """The manual lists functions and operators in tables of one column, a cell an entry of
    paragraphs (signature, description, examples). Read as separate paragraphs, the sentence
    "Splits string at occurrences of delimiter ..." does not say which function it describes."""
    page = parse_html((pgdocs / "functions-string.html").read_text(encoding="utf-8"))
    entry = next(b for b in page.blocks if "Splits string at occurrences of delimiter" in b.text)
    assert entry.kind == "paragraph"
    assert entry.text.startswith(
        "split_part ( string text, delimiter text, n integer ) → text: Splits string at occurrences of delimiter"
    )
    assert entry.text.endswith("split_part('abc,def,ghi,jkl', ',', -2) → ghi")  # the examples stay with it
    assert "split_part" in split_sentences(entry.text)[0] and "Splits string" in split_sentences(entry.text)[0]
    json_page = parse_html((pgdocs / "functions-json.html").read_text(encoding="utf-8"))
    texts = [b.text for b in json_page.blocks]
    assert (
        "json ->> text → text: jsonb ->> text → text Extracts JSON object field with the given key, as text. "
        + ("'{\"a\":1,\"b\":2}'::json ->> 'b' → 2")
        in texts
    )


def test_a_one_column_layout_table_keeps_its_paragraphs():
    """A page laid out in a one-cell table is not one entry: long or many paragraphs stay apart."""
    para = "This paragraph explains one step of the procedure in plain words and runs on for a while."
    cell = "".join(f"<p>{para} Step {i}.</p>" for i in range(12))
    entry = "<p><code>lower(text)</code></p><p>Converts to lower case.</p>"
    page = (
        "<html><head><title>Guide</title></head><body><h1>Guide</h1>"
        f"<table><tr><td>{cell}</td></tr></table><table><tr><td>{entry}</td></tr></table></body></html>"
    )
    texts = [b.text for b in parse_html(page).blocks]
    assert texts[1:13] == [f"{para} Step {i}." for i in range(12)]
    assert texts[13:] == ["lower(text): Converts to lower case."]


def _one_column_page(table: str, after: str = "") -> list[tuple[str, str]]:
    doc = parse_html(f"<html><body><main>{table}{after}</main></body></html>")
    return [(b.kind, b.text) for b in doc.blocks]


def test_a_table_whose_rows_sit_in_a_form_keeps_all_its_text():
    """lxml puts the rows of `<table><form><tr>` inside the form, so the table has no rows of its
    own: read as a one-column table's entries it lost every word, and a page of only that table
    was refused as "only navigation"."""
    table = (
        "<table><form><tr><td>Name</td><td>The account name, shown on invoices.</td></tr>"
        "<tr><td>Plan</td><td>Monthly or yearly billing.</td></tr></form></table>"
    )
    assert [text for _, text in _one_column_page(table)] == [
        "Name",
        "The account name, shown on invoices.",
        "Plan",
        "Monthly or yearly billing.",
    ]


def test_text_written_straight_into_a_one_column_table_is_kept():
    table = "<table><tr><td>Row one text.</td></tr>Stray note after the rows.</table>"
    assert _one_column_page("<p>Intro paragraph here.</p>" + table) == [
        ("paragraph", "Intro paragraph here."),
        ("paragraph", "Row one text."),
        ("paragraph", "Stray note after the rows."),
    ]


def test_a_div_in_a_table_row_is_kept():
    table = "<table><tr><td>Row one text.</td></tr><tr><div>Row two text in a div.</div></tr></table>"
    texts = [text for _, text in _one_column_page("<p>Intro paragraph here.</p>" + table)]
    assert texts == ["Intro paragraph here.", "Row one text.", "Row two text in a div."]


def test_a_heading_in_a_one_column_table_heads_the_definitions_after_it():
    """A definition list's long entry nests its term under the last heading; a heading inside a
    one-column (layout) table is that heading, as it was before cells were read as entries."""
    long = "".join(f"<p>Paragraph {i} of what the option does.</p>" for i in range(3))
    table = "<h1>Guide</h1><table><tr><td><h3>Options</h3><p>Set them in the file.</p></td></tr></table>"
    doc = parse_html(f"<html><body><main>{table}<dl><dt>verbose</dt><dd>{long}</dd></dl></main></body></html>")
    term = next(b for b in doc.blocks if b.text == "verbose")
    assert (term.kind, term.level) == ("heading", 4)
