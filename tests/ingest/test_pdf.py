"""PDF text put back together: paragraphs from lines, hyphenation undone, running headers and
footers dropped, monospaced code kept as code."""

from pathlib import Path

from ragwright.ingest.parsers import parse
from ragwright.ingest.pdf import Line, drop_running_lines, pdf_blocks

BODY = [
    [
        "Deploy keys are rotated every ninety days by the platform team, and the old key",
        "keeps working for one more day so that running jobs can finish their configu-",
        "ration reload before it is revoked. Rotation is a well-",
        "known practice.",
        "Ask the platform team.",
        "Audit logs are kept for a year and can be exported by any administrator who",
        "holds the auditor role.",
    ],
    [
        "Secrets never leave the vault (a well-known rule): services read them at start-up",
        "through short-lived tokens from the vault.",
        "Tokens expire after an hour.",
    ],
]
CODE = ["def rotate(key):", "    new = issue()", "    return new"]


def _handbook(path: Path) -> Path:
    from fpdf import FPDF

    class Handbook(FPDF):
        def header(self) -> None:
            self.set_font("Helvetica", size=9)
            self.cell(0, 5, "Harbor Operations Handbook", new_x="LMARGIN", new_y="NEXT")
            self.ln(4)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 5, f"Page {self.page_no()} of {len(BODY)}", align="C")

    pdf = Handbook()
    for page, lines in enumerate(BODY):
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        if page == 0:
            pdf.set_font("Courier", size=10)
            for line in CODE:
                pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_lines_become_paragraphs_without_headers_footers_or_hyphenation(tmp_path):
    path = _handbook(tmp_path / "handbook.pdf")
    doc = parse(path, path.read_bytes(), max_docx_bytes=1 << 20)
    assert [(b.kind, b.page, b.text) for b in doc.blocks] == [
        (
            "paragraph",
            1,
            "Deploy keys are rotated every ninety days by the platform team, and the old key keeps "
            "working for one more day so that running jobs can finish their configuration reload before "
            "it is revoked. Rotation is a well-known practice.",
        ),
        ("paragraph", 1, "Ask the platform team."),
        (
            "paragraph",
            1,
            "Audit logs are kept for a year and can be exported by any administrator who holds the auditor role.",
        ),
        ("code", 1, "\n".join(CODE)),
        (
            "paragraph",
            2,
            "Secrets never leave the vault (a well-known rule): services read them at start-up through "
            "short-lived tokens from the vault.",
        ),
        ("paragraph", 2, "Tokens expire after an hour."),
    ]


def test_a_hyphen_the_document_writes_elsewhere_is_kept():
    lines = [
        Line("The lock is re-", 11, 700),
        Line("entrant on every platform.", 11, 686),
        Line("A configu-", 11, 672),
        Line("ration file. Re-entrant locks are safe.", 11, 658),
    ]
    text = " ".join(b.text for b in pdf_blocks([lines]))
    assert "The lock is re-entrant on every platform." in text and "A configuration file." in text


def test_running_lines_and_page_numbers_go_but_a_line_on_one_page_stays():
    def page(n: int, body: str) -> list[Line]:
        return [
            Line("ACME Annual Report 2025", 9, 800),
            Line(body, 11, 700),
            Line(body + " Again.", 11, 686),
            Line("It goes on for a while longer here.", 11, 672),
            Line(f"- {n} -", 9, 40),
        ]

    pages = [
        page(1, "Revenue grew by a tenth over the year."),
        page(2, "Costs fell in every region but one."),
        page(3, "Hiring slowed down in the last quarter."),
    ]
    pages[0].insert(-1, Line("Civil", 11, 55))  # a word of roman-numeral letters, not a page number
    kept = drop_running_lines(pages)
    texts = [ln.text for p in kept for ln in p]
    assert "ACME Annual Report 2025" not in texts and not any(t.startswith("- ") for t in texts)
    assert "Revenue grew by a tenth over the year." in texts and "Civil" in texts and len(texts) == 10
