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


def parse_html(text: str) -> ParsedDocument:
    root = _document(text)
    body = root.find("body")
    if body is None:
        body = root
    page_text = _text_len(body)
    main = _main_content(body)
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


def _main_content(body: HtmlElement) -> HtmlElement:
    """`<main>`/role=main with the most text, else a lone `<article>`, else the body."""
    candidates = [e for e in body.iter("main") if _text_len(e)]
    candidates += [e for e in body.iterfind('.//*[@role="main"]') if _text_len(e)]
    if candidates:
        return max(candidates, key=_text_len)
    articles = [e for e in body.iter("article") if _text_len(e)]
    if len(articles) == 1:
        return articles[0]
    return body


def _prune(main: HtmlElement, inside_section: bool) -> None:
    """Drop boilerplate below `main`, top-down (no recursion: markup may nest deeply)."""
    stack = [(main, inside_section)]
    while stack:
        el, sectioned = stack.pop()
        for child in list(el):
            if not isinstance(child.tag, str):
                continue
            if _is_boilerplate(child, sectioned) or _is_permalink(child):
                child.drop_tree()
            else:
                stack.append((child, sectioned or child.tag in _SECTIONING))


def _is_boilerplate(el: HtmlElement, sectioned: bool) -> bool:
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
    return tag in _LINK_LIST_TAGS and _mostly_links(el)


def _is_permalink(el: HtmlElement) -> bool:
    if el.tag != "a":
        return False
    if classes(el) & _PERMALINK_CLASSES:
        return True
    return (el.get("href") or "").startswith("#") and (el.text_content() or "").strip() in _PERMALINK_MARKS


def _mostly_links(el: HtmlElement) -> bool:
    """A list or box of at least 4 links whose text is 80% link text, with little text of its
    own and no paragraph of prose: a menu, a contents list (not the section that introduces one)."""
    links = [a for a in el.iter("a") if a.get("href")]
    if len(links) < 4 or el.find(".//pre") is not None:
        return False
    total = _text_len(el)
    own = total - sum(_text_len(a) for a in links)
    if own > 0.2 * total or own >= _OWN_TEXT:
        return False
    return not any(_text_len(p) - sum(_text_len(a) for a in p.iter("a")) >= _PROSE for p in el.iter("p"))


def _text_len(el: HtmlElement) -> int:
    return sum(len(t.strip()) for t in el.itertext())


def _title(root: HtmlElement, blocks: list[Block]) -> str:
    """The first h1 when the `<title>` only adds the site's name to it ("json — ... — Python 3.11 docs")."""
    title_el = root.find("head/title")
    title = " ".join(title_el.text_content().split()) if title_el is not None else ""
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), "")
    if h1 and (not title or title.startswith(h1)):
        return h1
    return title
