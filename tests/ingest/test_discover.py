from pathlib import Path

from ragwright.ingest.discover import discover


def _tree(tmp_path):
    for rel in ["a.md", "b.txt", "skip.png", "sub/c.html", "sub/deep/d.md", "drafts/e.md", ".hidden/f.md"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    return tmp_path


def test_walks_recursively_and_keeps_supported_types(tmp_path):
    found = discover([_tree(tmp_path)], include=[], exclude=[])
    names = sorted(p.relative_to(tmp_path).as_posix() for p in found.files)
    assert names == ["a.md", "b.txt", "drafts/e.md", "sub/c.html", "sub/deep/d.md"]
    assert found.failed == []


def test_include_and_exclude_globs(tmp_path):
    found = discover([_tree(tmp_path)], include=["**/*.md"], exclude=["drafts/**"])
    names = sorted(p.relative_to(tmp_path).as_posix() for p in found.files)
    assert names == ["a.md", "sub/deep/d.md"]


def test_missing_path_is_reported_and_others_continue(tmp_path):
    _tree(tmp_path)
    found = discover([tmp_path / "nope", tmp_path / "a.md"], include=[], exclude=[])
    assert [f.error for f in found.failed] == ["no such file or directory"]
    assert [p.name for p in found.files] == ["a.md"]


def test_explicit_unsupported_file_is_kept_so_it_can_fail_loudly(tmp_path):
    _tree(tmp_path)
    found = discover([tmp_path / "skip.png"], include=[], exclude=[])
    assert [p.name for p in found.files] == ["skip.png"]


def _names(found, root):
    return sorted(p.relative_to(root).as_posix() for p in found.files)


def test_a_star_does_not_cross_folders_as_in_gitignore(tmp_path):
    for rel in ["sub/x.md", "sub/deep/d.md", "top.md"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    # fnmatch's `*` matched "deep/d.md" too, so both of these took or dropped sub/deep/d.md
    assert _names(discover([tmp_path], include=["sub/*.md"], exclude=[]), tmp_path) == ["sub/x.md"]
    assert _names(discover([tmp_path], include=[], exclude=["sub/*.md"]), tmp_path) == ["sub/deep/d.md", "top.md"]
    # `**` crosses folders; a pattern without a slash matches at any depth
    assert _names(discover([tmp_path], include=["sub/**/*.md"], exclude=[]), tmp_path) == ["sub/deep/d.md", "sub/x.md"]
    assert _names(discover([tmp_path], include=[], exclude=["d.md"]), tmp_path) == ["sub/x.md", "top.md"]


def test_gitignore_folders_and_negation(tmp_path):
    _tree(tmp_path)
    # a trailing slash names a folder, at any depth; `!` takes a file back
    found = discover([tmp_path], include=[], exclude=["deep/", "*.md", "!drafts/e.md"])
    assert _names(found, tmp_path) == ["b.txt", "drafts/e.md", "sub/c.html"]


def test_unsupported_files_of_a_walked_folder_are_listed_with_the_reason(tmp_path):
    _tree(tmp_path)
    for rel in ["Makefile", ".DS_Store", "drafts/shot.PNG"]:
        (tmp_path / rel).write_text("x")
    found = discover([tmp_path], include=[], exclude=[])
    skipped = {Path(s.path).relative_to(tmp_path).as_posix(): s.reason for s in found.skipped}
    # hidden files stay silent, as hidden folders do; the type is named as a person wrote it, lowercased
    assert skipped == {
        "skip.png": "unsupported type .png",
        "Makefile": "unsupported type (no extension)",
        "drafts/shot.PNG": "unsupported type .png",
    }
    assert all(Path(s.path).is_absolute() for s in found.skipped) and found.failed == []


def test_files_the_globs_leave_out_are_not_listed_as_skipped(tmp_path):
    _tree(tmp_path)
    (tmp_path / "drafts" / "shot.png").write_text("x")
    found = discover([tmp_path], include=["**/*.md"], exclude=["drafts/"])
    assert [Path(s.path).name for s in found.skipped] == []  # the user asked for that: no noise
    found = discover([tmp_path], include=[], exclude=["drafts/"])
    assert [Path(s.path).name for s in found.skipped] == ["skip.png"]
