import ragwright


def test_public_names():
    assert set(ragwright.__all__) == {
        "Answer",
        "Citation",
        "ConfigError",
        "DocumentRecord",
        "FailedFile",
        "IngestError",
        "IngestReport",
        "ModelError",
        "NotFoundError",
        "QuestionError",
        "RagwrightError",
        "SearchResult",
        "Settings",
        "StoreError",
        "TextRecord",
        "Workspace",
        "load_settings",
    }
    for name in ragwright.__all__:
        assert getattr(ragwright, name) is not None


def _imported(path, root):
    """Every ragwright module a file imports (relative imports resolved, lazy ones included), with its line."""
    import ast

    parts = ["ragwright", *path.relative_to(root).with_suffix("").parts]
    package = parts if parts[-1] == "__init__" else parts[:-1]
    package = [p for p in package if p != "__init__"]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "ragwright":
                yield name, node.lineno


def test_lower_layers_never_import_higher_ones():
    from pathlib import Path

    order = ["ingest", "store", "retrieve", "generate"]
    root = Path(ragwright.__file__).parent
    forbidden = {
        "store": {"ingest", "retrieve", "generate", "cli", "workspace"},
        "ingest": {"retrieve", "generate", "cli", "workspace"},
        "retrieve": {"generate", "cli", "workspace", "ingest"},
        "generate": {"cli", "workspace"},
        "models": set(order) | {"cli", "workspace", "evaluate", "guard"},  # the guard's policy is passed in
        "evaluate": {"cli", "workspace"},
    }
    # The store's contract (its protocols, no backend) may be named by any layer that keeps records
    # in a store: the model gateway types its store with it.
    interface = "ragwright.store.contract"
    broken = []
    for package, banned in forbidden.items():
        for path in (root / package).rglob("*.py"):
            for module, line in _imported(path, root):
                top = [*module.split("."), ""][1].lstrip("_")  # the Workspace's private _workspace/ is workspace
                if top in banned and not (module + ".").startswith(interface + "."):
                    broken.append(f"{path.relative_to(root)}:{line} imports {module}")
    assert not broken, broken


def test_nothing_outside_the_store_names_a_backend():
    """Callers get their store from store/factory.py's open_store and type it with the contract's
    protocols: a backend class or module named elsewhere would tie that caller to one engine."""
    import re
    from pathlib import Path

    root = Path(ragwright.__file__).parent
    backends = ("ragwright.store.sqlite", "ragwright.store.postgres")
    named = re.compile(r"\b(SqliteStore|PostgresStore)\b")
    broken = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "store"):
            continue
        for module, line in _imported(path, root):
            if module.startswith(backends):
                broken.append(f"{path.relative_to(root)}:{line} imports {module}")
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if named.search(text):
                broken.append(f"{path.relative_to(root)}:{number} names {named.search(text)[0]}")
    assert not broken, broken


def test_the_server_app_is_imported_by_nothing_it_includes():
    """server/app.py builds the app from the routers; they take ApiError, require and state_of from
    server/deps.py, so no module of the server imports app.py back (no import cycle)."""
    from pathlib import Path

    root = Path(ragwright.__file__).parent
    importers = [
        f"{path.relative_to(root)}:{line}"
        for path in (root / "server").rglob("*.py")
        if path.name not in ("app.py", "__init__.py")
        for module, line in _imported(path, root)
        if module == "ragwright.server.app"
    ]
    assert not importers, importers


def test_import_resolution_sees_relative_absolute_and_lazy_imports(tmp_path):
    """The check above would pass vacuously if it missed an import form: each one is found."""
    root = tmp_path / "ragwright"
    (root / "server").mkdir(parents=True)
    path = root / "server" / "routes.py"
    path.write_text(
        "from .app import x\nfrom .. import workspace\nimport ragwright.cli\n"
        "def f():\n    from ragwright.server.app import y\n"
    )
    found = sorted(m for m, _ in _imported(path, root))
    assert found == ["ragwright.cli", "ragwright.server.app", "ragwright.server.app", "ragwright.workspace"]
