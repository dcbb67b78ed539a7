"""The README's Python example runs, so it cannot rot."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_exactly_two_setup_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert text.index("make demo") < text.index("##")


def test_readme_python_example_runs(monkeypatch, tmp_path):
    import shutil

    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)
    monkeypatch.chdir(README.parent)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "80 euros" in namespace["answer"].answer
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)
