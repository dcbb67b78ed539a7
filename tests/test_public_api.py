import ragwright


def test_public_names():
    assert set(ragwright.__all__) == {
        "Answer", "Citation", "ConfigError", "DocumentRecord", "FailedFile", "IngestError", "IngestReport",
        "ModelError", "NotFoundError", "QuestionError", "RagwrightError", "SearchResult", "Settings", "StoreError",
        "TextRecord", "Workspace", "load_settings"}
    for name in ragwright.__all__:
        assert getattr(ragwright, name) is not None


def test_lower_layers_never_import_higher_ones():
    import ast
    from pathlib import Path

    order = ["ingest", "store", "retrieve", "generate"]
    root = Path(ragwright.__file__).parent
    forbidden = {"store": {"ingest", "retrieve", "generate", "cli", "workspace"},
                 "ingest": {"retrieve", "generate", "cli", "workspace"},
                 "retrieve": {"generate", "cli", "workspace", "ingest"},
                 "generate": {"cli", "workspace"},
                 "models": set(order) | {"cli", "workspace", "evaluate"},
                 "evaluate": {"cli"}}
    for package, banned in forbidden.items():
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level >= 2 and node.module:
                    top = node.module.split(".")[0]
                    assert top not in banned, f"{path.relative_to(root)} imports {node.module}"
