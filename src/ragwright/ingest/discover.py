"""Find the files to ingest under the given paths, with include/exclude globs. Problems with a
path (missing, unreadable folder) are reported per path; they never stop the others."""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..types import FailedFile
from .parsers import format_of


@dataclass(slots=True)
class Discovery:
    files: list[Path] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # folders walked, for --prune


def _matches(rel: str, patterns: Iterable[str]) -> bool:
    for pat in patterns:
        if fnmatch.fnmatch(rel, pat) or (pat.startswith("**/") and fnmatch.fnmatch(rel, pat[3:])):
            return True
    return False


def _wanted(rel: str, include: list[str], exclude: list[str]) -> bool:
    if exclude and _matches(rel, exclude):
        return False
    return not include or _matches(rel, include)


def discover(paths: Iterable[str | Path], include: list[str], exclude: list[str]) -> Discovery:
    found = Discovery()
    seen: set[Path] = set()

    def add(path: Path, root: Path | None = None) -> None:
        try:
            resolved = path.resolve(strict=True)
            regular = stat.S_ISREG(resolved.stat().st_mode)
        except (OSError, RuntimeError) as exc:  # dangling link, link loop, name too long
            found.failed.append(FailedFile(str(path), f"cannot resolve: {getattr(exc, 'strerror', None) or exc}"))
            return
        if not regular:
            found.failed.append(FailedFile(str(path), "not a regular file (a device, pipe or socket)"))
        elif root is not None and not resolved.is_relative_to(root):
            found.failed.append(FailedFile(str(path), f"links outside {root}; name {resolved} to ingest it"))
        elif resolved not in seen:
            seen.add(resolved)
            found.files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        try:
            kind = "dir" if path.is_dir() else "file" if path.exists() else None
        except OSError as exc:  # name too long, permission denied on a parent
            found.failed.append(FailedFile(str(path), exc.strerror or str(exc)))
            continue
        if kind is None:
            found.failed.append(FailedFile(str(path), "no such file or directory"))
        elif kind == "file":
            add(path)  # named explicitly: taken even if its type is unsupported, so the error says so
        else:
            root = path.resolve()
            found.roots.append(root)
            _walk(path, include, exclude, lambda p: add(p, root), found.failed)
    return found


def _walk(root: Path, include: list[str], exclude: list[str], add, failed: list[FailedFile]) -> None:  # noqa: ANN001
    def on_error(err: OSError) -> None:
        reason = "permission denied: cannot list this folder" if isinstance(err, PermissionError) else str(err)
        failed.append(FailedFile(str(err.filename or root), reason))

    for folder, dirs, names in os.walk(root, onerror=on_error):
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if not _matches(_rel(rel_folder, d) + "/", exclude) and not d.startswith("."))
        for name in sorted(names):
            rel = _rel(rel_folder, name)
            path = Path(folder) / name
            if format_of(path) is None or not _wanted(rel, include, exclude):
                continue
            add(path)


def _rel(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}".replace(os.sep, "/")
