"""The name tagger and the PII detector live in private modules (guard/_ner/, guard/_pii/) behind
guard/ner.py and guard/pii.py: every name those two offered before the split is still imported
from them (pinned in part here), and importing them still loads neither Presidio nor spaCy
(about a second, paid on first scan)."""

from __future__ import annotations

import subprocess
import sys

import ragwright.guard.ner as ner
import ragwright.guard.pii as pii


def test_every_exported_name_resolves() -> None:
    """ner.py and pii.py re-export what moved to the private modules: a stale __all__ fails here."""
    for module in (ner, pii):
        assert module.__all__ and all(hasattr(module, name) for name in module.__all__)
    assert {"NameTagger", "tokenize", "trim", "split_address"} <= set(ner.__all__)
    assert {"PiiDetector", "PiiSpan", "resolve", "build_analyzer", "PHONE_CONTEXT"} <= set(pii.__all__)


def test_importing_the_detector_loads_no_presidio_nor_spacy() -> None:
    code = (
        "import sys, ragwright.guard.ner, ragwright.guard.pii\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'presidio_analyzer', 'spacy', 'tldextract'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
