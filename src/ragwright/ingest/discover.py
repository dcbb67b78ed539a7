"""Find the files to ingest under the given paths, with include/exclude globs. Problems with a
path (missing, unreadable folder) are reported per path; they never stop the others. Files of a
walked folder that no parser reads are listed as skipped, with the reason, so a user is not left
wondering where their `.png` went (hidden files and files the globs leave out are not: the user
asked for that)."""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from ..types import FailedFile, SkippedFile
from .parsers import format_of


@dataclass(slots=True)
class Discovery:
    files: list[Path] = field(default_factory=list)
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    roots: list[Path] = field(default_factory=list)  # folders walked, for --prune


@dataclass(frozen=True, slots=True)
class _Globs:
    """--include/--exclude, matched on paths relative to the folder walked with .gitignore's rules
    (pathspec), the ones users already know: `*` stays inside one folder, `**` crosses folders, a
    pattern without `/` matches at any depth, a trailing `/` means a folder, `!` takes one back."""

    include: GitIgnoreSpec | None
    exclude: GitIgnoreSpec | None

    @classmethod
    def of(cls, include: list[str], exclude: list[str]) -> _Globs:
        return cls(
            GitIgnoreSpec.from_lines(include) if include else None,
            GitIgnoreSpec.from_lines(exclude) if exclude else None,
        )

    def skips_folder(self, rel: str) -> bool:
        """An excluded folder is not walked at all (as in git, nothing inside it can be taken back)."""
        return self.exclude is not None and self.exclude.match_file(rel + "/")

    def wants(self, rel: str) -> bool:
        if self.exclude is not None and self.exclude.match_file(rel):
            return False
        return self.include is None or self.include.match_file(rel)


def discover(paths: Iterable[str | Path], include: list[str], exclude: list[str]) -> Discovery:
    found = Discovery()
    globs = _Globs.of(include, exclude)
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
            _walk(path, globs, functools.partial(add, root=root), found)
    return found


def _walk(root: Path, globs: _Globs, add: Callable[[Path], None], found: Discovery) -> None:
    def on_error(err: OSError) -> None:
        reason = "permission denied: cannot list this folder" if isinstance(err, PermissionError) else str(err)
        found.failed.append(FailedFile(str(err.filename or root), reason))

    for folder, dirs, names in os.walk(root, onerror=on_error):
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not globs.skips_folder(_rel(rel_folder, d)))
        for name in sorted(names):
            rel = _rel(rel_folder, name)
            path = Path(folder) / name
            if not globs.wants(rel):
                continue
            if format_of(path) is not None:
                add(path)
            elif not name.startswith("."):
                found.skipped.append(SkippedFile(os.path.abspath(path), unsupported_reason(path)))


def unsupported_reason(path: Path) -> str:
    return f"unsupported type {path.suffix.lower()}" if path.suffix else "unsupported type (no extension)"


def _rel(folder: str, name: str) -> str:
    return name if folder == "." else f"{folder}/{name}".replace(os.sep, "/")
