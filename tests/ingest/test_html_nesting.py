"""Deeply nested HTML costs time linear in its size (security review 14, finding 3: a 1 MB page
of nested `<div>`s over 20,000 links held the job thread for 71 s), and the one-pass pruning
keeps exactly what walking every box's subtree kept (checked here against that rule, written
out plainly, on random pages)."""

import random
import time

from lxml.html import HtmlElement

from ragwright.ingest import html
from ragwright.ingest.html_blocks import blocks_of
from ragwright.ingest.parsers import parse_html

OWN = "word " * 80  # 400 characters of a box's own text: "content", so the pruning looks inside


def _nested(open_tag: str, close_tag: str, depth: int, inner: str) -> str:
    return f"<html><body><p>{OWN}</p>" + open_tag * depth + inner + close_tag * depth + "</body></html>"


def _timed(page: str):
    started = time.perf_counter()
    doc = parse_html(page)
    return doc, time.perf_counter() - started


def test_links_under_500_nested_boxes_parse_in_well_under_a_second():
    links = "".join(f'<a href="#x{i}">l{i}</a> ' for i in range(10_000))
    page = _nested(f"<div>{OWN}", "</div>", 500, f"<p>{links}</p>")  # 0.5 MB; 15-30 s before
    doc, seconds = _timed(page)
    text = "\n".join(b.text for b in doc.blocks)
    assert seconds < 2, seconds
    assert text.count(OWN.strip()) >= 100  # the boxes' own text is kept, as before
    assert "l0 l1 l2" in text and "l9999" in text  # the links too (a paragraph of prose among them)


def test_nested_main_elements_are_measured_once():
    page = _nested("<main>", "</main>", 2000, "word " * 200_000)  # 1 MB; 2.3-3.5 s before
    doc, seconds = _timed(page)
    assert seconds < 1.5, seconds
    assert sum(b.text.count("word") for b in doc.blocks) == 200_000


def test_headings_in_headings_are_read_as_text_not_a_recursion_error():
    page = _nested("<h1>", "</h1>", 300, "deep " * 200_000)  # RecursionError before
    doc, seconds = _timed(page)
    assert seconds < 1.5, seconds
    assert sum(b.text.count("deep") for b in doc.blocks) == 200_000


def test_250_nested_definition_lists_keep_their_innermost_text():
    page = _nested("<dl><dt>term</dt><dd><p>x</p>", "</dd></dl>", 250, "<p>innermost</p>")  # RecursionError
    doc = parse_html(page)
    assert "innermost" in "\n".join(b.text for b in doc.blocks)


# The rule as it was written before the one-pass figures: each box's subtree walked for itself.
def _text_len(el: HtmlElement) -> int:
    return sum(len(t.strip()) for t in el.itertext())


def _mostly_links(el: HtmlElement) -> bool:
    links = [a for a in el.iter("a") if a.get("href")]
    if len(links) < 4 or el.find(".//pre") is not None:
        return False
    total = _text_len(el)
    own = total - sum(_text_len(a) for a in links)
    if own > 0.2 * total or own >= 300:
        return False
    return not any(_text_len(p) - sum(_text_len(a) for a in p.iter("a")) >= 60 for p in el.iter("p"))


def _reference(text: str) -> tuple[str, list, int]:
    root = html._document(text)
    body = root.find("body")
    if body is None:
        body = root
    candidates = [e for e in body.iter("main") if _text_len(e)]
    candidates += [e for e in body.iterfind('.//*[@role="main"]') if _text_len(e)]
    articles = [e for e in body.iter("article") if _text_len(e)]
    main = max(candidates, key=_text_len) if candidates else articles[0] if len(articles) == 1 else body
    page_text = _text_len(body)
    stack = [(main, main is not body)]
    while stack:
        el, sectioned = stack.pop()
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            mark = (child.text_content() or "").strip() in html._PERMALINK_MARKS
            mostly_links = child.tag in html._LINK_LIST_TAGS and _mostly_links(child)
            if html._is_boilerplate(child, sectioned, mostly_links) or html._is_permalink(child, mark):
                child.drop_tree()
            else:
                stack.append((child, sectioned or child.tag in html._SECTIONING))
    return root.getroottree().getpath(main), blocks_of(main), page_text


_TAGS = "div ul ol li section aside table tr td dl dt dd menu p pre span a a a main article header footer h2 em"
_CLASSES = ["", "", "", "toc", "note", "sidebar", "site-footer", "admonition", "title", "headerlink"]


def _random_page(rng: random.Random) -> str:
    budget = [150]

    def words() -> str:
        pieces = ["alpha", "b", "¶", "#", " ", "\n", "delta-epsilon"]
        return " ".join(rng.choice(pieces) for _ in range(rng.choice([0, 1, 3, 12, 70])))

    def node(depth: int) -> str:
        budget[0] -= 1
        if budget[0] < 0 or depth > rng.randint(3, 12) or rng.random() < 0.15:
            return words()
        tag = rng.choice(_TAGS.split())
        if tag == "a":
            attrs = rng.choice([' href="#x"', ' href="p.html"', "", ' href=""', ' class="headerlink" href="#h"'])
        else:
            attrs = f' class="{rng.choice(_CLASSES)}"' + (' role="main"' if rng.random() < 0.05 else "")
        widths = [0, 1, 2, 4, 8]
        kids = "".join(node(depth + 1) + (words() if rng.random() < 0.3 else "") for _ in range(rng.choice(widths)))
        return f"<{tag}{attrs}>{words()}{kids}</{tag}>"

    body = "".join(node(0) for _ in range(rng.randint(1, 5)))
    return f"<html><head><title>t</title></head><body>{body}</body></html>"


def test_one_pass_pruning_keeps_what_walking_each_subtree_kept():
    rng = random.Random(14)
    pruned = 0
    for _ in range(150):
        page = _random_page(rng)
        path, blocks, page_text = _reference(page)
        root = html._document(page)
        body = root.find("body")
        length, main = html._main_content(body)
        html._prune(main, inside_section=main is not body)
        assert (root.getroottree().getpath(main), blocks_of(main), length) == (path, blocks, page_text), page
        pruned += len(blocks) < len(blocks_of(html._document(page).find("body")))
    assert pruned > 30  # the pages did exercise the pruning
