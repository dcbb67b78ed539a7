"""Files made to exhaust a parser while passing the cheap checks: the attacks of issue 16."""

from __future__ import annotations

import io
import zipfile
import zlib


def empty_paragraphs_docx(expanded_mib: float) -> bytes:
    """A real DOCX whose body is `expanded_mib` MiB of `<w:p/>`: 20 MiB zip to 31 KB (ratio 674, under
    the ratio check, which only looks at members over 10 MB expanding 1000 times)."""
    import docx

    template = io.BytesIO()
    docx.Document().save(template)
    source = zipfile.ZipFile(template)
    body = b"<w:p/>" * int(expanded_mib * 1048576 / 6)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                head, _, tail = data.partition(b"<w:body>")
                data = head + b"<w:body>" + body + tail
            zf.writestr(info.filename, data)
    return out.getvalue()


def slow_pdf(operators: int) -> bytes:
    """A one-page PDF of `operators` text-showing operators: a few KB that pypdf reads for
    minutes (100,000 took 5.8 s)."""
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td\n" + b"(a) Tj\n" * operators + b"ET\n", 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()
