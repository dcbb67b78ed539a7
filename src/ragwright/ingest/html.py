"""HTML pages -> title and blocks of their main content.

What a page is about sits in its main content; menus, breadcrumbs, sidebars, cookie banners,
"Prev | Up | Next" bars, footers and permalink marks (`¶`) repeat on every page of a site and
only dilute the search. The main content is `<main>` or `role="main"` (Sphinx, most themes),
else the one `<article>`, else the body; inside it, boilerplate goes by tag (`nav`, a page-level
`header`/`aside`, `footer`), by ARIA role, by class (Sphinx's `sphinxsidebar`/`related`/`footer`,
DocBook's `navheader`/`navfooter`/`toc`, `breadcrumb`, `cookie`...), and lists or boxes that are
nearly all links. A page with nothing left but links is refused with that reason rather than
indexed as a garbled document.

lxml parses (libxml2, pinned in requirements); `huge_tree` because without it a text node over
10 MB (an inline script) silently ends the document there. The layout of what is kept is in
html_blocks.py."""

from __future__ import annotations

from typing import Any

from lxml import etree
from lxml import html as lxml_html
from lxml.html import HtmlElement

from ..types import Block, ParsedDocument
from .html_blocks import NOT_TEXT, blocks_of, classes
from .parsers import ParseError

_DROP_TAGS = NOT_TEXT | frozenset({"nav", "dialog"})
_PAGE_LEVEL_TAGS = frozenset({"header", "aside"})  # boilerplate unless inside an article or section
_SECTIONING = frozenset({"article", "section", "main"})
_DROP_ROLES = frozenset(
    [
        "navigation",
        "banner",
        "contentinfo",
        "search",
        "complementary",
        "dialog",
        "alertdialog",
        "menu",
        "menubar",
        "toolbar",
        "tablist",
    ]
)
# Class names of boilerplate, matched whole ("toc" is DocBook's contents list, but Sphinx's
# "toc-backref" wraps a heading's own text)...
_DROP_CLASSES = frozenset(
    [
        "toc",
        "navheader",
        "navfooter",
        "sphinxsidebar",
        "sphinxsidebarwrapper",
        "related",
        "headerlink",
        "linenos",
        "skip-link",
        "skiplink",
        "masthead",
    ]
)
# ...or by one of their dash/underscore-separated parts ("site-footer", "cookie_banner").
_DROP_CLASS_PARTS = frozenset(
    [
        "nav",
        "navbar",
        "navigation",
        "menu",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "footer",
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "banner",
        "pagination",
        "pager",
        "social",
        "share",
        "advert",
        "ads",
        "newsletter",
    ]
)
_PERMALINK_CLASSES = frozenset(
    [
        "headerlink",
        "anchor",
        "anchorjs-link",
        "permalink",
        "hash-link",
        "heading-anchor",
        "header-anchor",
        "anchor-link",
        "id_link",
    ]
)
_PERMALINK_MARKS = frozenset(["¶", "§", "#", "🔗", "⚓"])
_LINK_LIST_TAGS = frozenset(["ul", "ol", "div", "section", "aside", "table", "dl", "menu"])
_OWN_TEXT = 300  # characters outside links: more is content, however many links follow it
_PROSE = 60  # characters outside links in one paragraph: a sentence of the page's own
# Levels below the body: deeper, an element is read as its text (real pages nest about 25 deep).
# libxml2's own limit without huge_tree, which lifts it to 2,048 (huge_tree is for text nodes
# over 10 MB); lxml's costs grow with depth x elements even where ours do not (each element's
# proxy, when freed, walks up to the nearest ancestor that has one).
_MAX_NESTING = 256


def parse_html(text: str) -> ParsedDocument:
    root = _document(text)
    body = root.find("body")
    if body is None:
        body = root
    page_text, main = _main_content(body)
    _prune(main, inside_section=main is not body)
    blocks = blocks_of(main)
    if page_text and not any(b.text for b in blocks if b.kind != "heading"):
        raise ParseError("the page holds only navigation (menus, links, headers and footers), no text of its own")
    return ParsedDocument(title=_title(root, blocks), blocks=blocks, format="html")


def _document(text: str) -> HtmlElement:
    parser = lxml_html.HTMLParser(encoding="utf-8", huge_tree=True, remove_comments=True, remove_pis=True)
    try:
        root = lxml_html.document_fromstring(text.encode("utf-8", "replace"), parser=parser)
    except (etree.ParserError, ValueError) as exc:  # "Document is empty"
        raise ParseError(f"HTML cannot be read: {exc}") from exc
    etree.strip_elements(root, "script", "style", "noscript", "template", with_tail=False)  # never text
    return root


def _main_content(body: HtmlElement) -> tuple[int, HtmlElement]:
    """The body's text length, and its main content: the `<main>`/role=main with the most text
    (the first of them in document order, `<main>`s first), else a lone `<article>`, else the body.

    One post-order walk, no recursion: text lengths add up from the leaves (asking each nested
    `<main>` for its own text walked its subtree again). An element `_MAX_NESTING` below the body
    becomes its text: the deeper markup of a hostile page is gone before anything walks it."""
    best: tuple[int, int, int] = (0, 0, 0)  # (text length, -list, -position): the max() of the candidates
    chosen = body
    articles: list[HtmlElement] = []  # those with text; only whether there is exactly one matters
    position = 0
    stack: list[list[Any]] = [[body, iter(body), _stripped(body.text), position]]
    while stack:
        top = stack[-1]
        child = next(top[1], None)
        if child is not None:
            if not isinstance(child.tag, str):  # a comment: itertext reads its tail, not its text
                top[2] += _stripped(child.tail)
                continue
            if len(stack) >= _MAX_NESTING:
                child.text, child[:] = child.text_content(), []
            position += 1
            stack.append([child, iter(child), _stripped(child.text), position])
            continue
        stack.pop()
        el, _, length, at = top
        if length:
            if el.tag == "main" and (length, 0, -at) > best:
                best, chosen = (length, 0, -at), el
            if el is not body and el.get("role") == "main" and (length, -1, -at) > best:
                best, chosen = (length, -1, -at), el
            if el.tag == "article" and len(articles) < 2:
                articles.append(el)
        if stack:
            stack[-1][2] += length + _stripped(el.tail)
        else:
            page_text = length
    if best[0]:
        return page_text, chosen
    return page_text, articles[0] if len(articles) == 1 else body


def _prune(main: HtmlElement, inside_section: bool) -> None:
    """Drop boilerplate below `main` in one post-order walk, no recursion: an element's figures
    (its text, its links' count and text, a `<pre>` or a prose `<p>` inside) add up from its
    children's, taken before any of them is dropped, so each element is judged on its whole
    subtree as the page wrote it; dropping its boilerplate descendants first, or not at all when
    it goes itself, leaves the same tree. Deciding top-down walked each nested box's subtree again:
    a 1 MB page of 1,000 nested `<div>`s over 20,000 links took 71 s."""
    # [element, its children, sectioned (for itself), text, hrefs, href text, link text, <pre>, prose <p>, char]
    stack: list[list[Any]] = [_entry(main, inside_section)]
    while stack:
        top = stack[-1]
        child = next(top[1], None)
        if child is not None:
            if isinstance(child.tag, str):
                stack.append(_entry(child, top[2] or (top[0].tag in _SECTIONING and top[0] is not main)))
            else:
                _add_text(top, child.tail)
            continue
        stack.pop()
        el, _, sectioned, text, hrefs, href_text, link_text, pre, prose, char = top
        if not stack:
            return
        tag = el.tag
        own = text - href_text
        mostly_links = (
            tag in _LINK_LIST_TAGS
            and hrefs >= 4
            and not pre
            and not (own > 0.2 * text or own >= _OWN_TEXT)
            and not prose
        )
        mark = text == 1 and char in _PERMALINK_MARKS
        drop = _is_boilerplate(el, sectioned, mostly_links) or _is_permalink(el, mark)
        if tag == "a":
            link_text += text
            if el.get("href"):
                hrefs += 1
                href_text += text
        elif tag == "p" and text - link_text >= _PROSE:  # the text of the links inside it
            prose = True
        parent = stack[-1]
        parent[3] += text
        parent[4] += hrefs
        parent[5] += href_text
        parent[6] += link_text
        parent[7] = parent[7] or pre or tag == "pre"
        parent[8] = parent[8] or prose
        if text == 1:
            parent[9] = char
        _add_text(parent, el.tail)  # before drop_tree moves the tail
        if drop:
            el.drop_tree()


def _entry(el: HtmlElement, sectioned: bool) -> list[Any]:
    entry = [el, iter(el), sectioned, 0, 0, 0, 0, False, False, ""]
    _add_text(entry, el.text)
    return entry


def _add_text(entry: list[Any], piece: str | None) -> None:
    """A piece of text as `_text_len` counts it (stripped); the last one-character piece, which
    is the whole text when the length is 1 (a permalink mark)."""
    if piece:
        stripped = piece.strip()
        entry[3] += len(stripped)
        if len(stripped) == 1:
            entry[9] = stripped


def _stripped(piece: str | None) -> int:
    return len(piece.strip()) if piece else 0


def _is_boilerplate(el: HtmlElement, sectioned: bool, mostly_links: bool) -> bool:
    tag = el.tag
    if tag in _DROP_TAGS or tag == "footer" or (tag in _PAGE_LEVEL_TAGS and not sectioned):
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true" or (el.get("role") or "") in _DROP_ROLES:
        return True
    if "display:none" in (el.get("style") or "").replace(" ", ""):
        return True
    names = classes(el)
    if names & _DROP_CLASSES:
        return True
    if any(part in _DROP_CLASS_PARTS for name in names for part in name.replace("_", "-").split("-")):
        return True
    return mostly_links  # a list or box of links: a menu, a contents list (see _prune)


def _is_permalink(el: HtmlElement, mark: bool) -> bool:
    """A heading's anchor: by class, or an in-page link whose whole text is one mark (`¶`)."""
    if el.tag != "a":
        return False
    if classes(el) & _PERMALINK_CLASSES:
        return True
    return (el.get("href") or "").startswith("#") and mark


def _title(root: HtmlElement, blocks: list[Block]) -> str:
    """The first h1 when the `<title>` only adds the site's name to it ("json — ... — Python 3.11 docs")."""
    title_el = root.find("head/title")
    title = " ".join(title_el.text_content().split()) if title_el is not None else ""
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    if h1 and (not title or title.startswith(h1)):
        return h1
    return title
