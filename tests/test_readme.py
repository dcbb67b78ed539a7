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


def test_readme_python_examples_run(monkeypatch, tmp_path):
    import shutil

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)
    monkeypatch.chdir(README.parent)
    results = []
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
        results.append(namespace)
    answers = [ns["answer"].answer for ns in results if "answer" in ns]
    replies = [ns["reply"] for ns in results if "reply" in ns]
    assert len(blocks) == 2 and answers and "80 euros" in answers[0]
    assert replies and "paris" in replies[0].text.lower() and replies[0].usage.output_tokens > 0
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)


def test_readme_config_examples_are_valid(tmp_path):
    """Every ```toml block is a config ragwright accepts (a misspelt key fails with its name)."""
    from ragwright.config import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block)
        load_settings(path, data_dir=tmp_path)
