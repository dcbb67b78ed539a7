from pathlib import Path

import pytest

from ragwright import ConfigError, load_settings
from ragwright.config import DEFAULT_TOML


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.data_dir == Path(".ragwright") and s.retrieval.k == 10 and s.embedding.provider == "local"


def test_init_template_is_valid_and_matches_defaults(tmp_path):
    path = tmp_path / "ragwright.toml"
    path.write_text(DEFAULT_TOML)
    s = load_settings(path)
    assert s.ingest.chunk_tokens == 240 and s.answer.abstain_threshold is None  # calibrated per workspace


def test_unknown_key_names_file_key_and_allowed(tmp_path):
    path = tmp_path / "ragwright.toml"
    path.write_text("[retrieval]\nkk = 5\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert str(path) in msg and "retrieval.kk" in msg and "bm25_weight" in msg and "candidates" in msg


def test_wrong_value_names_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[embedding]\nprovider = "cohere"\n[retrieval]\nk = "ten"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    msg = str(err.value)
    assert "embedding.provider = 'cohere'" in msg and "'local' or 'openai'" in msg
    assert "retrieval.k = 'ten'" in msg


def test_invalid_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[retrieval\nk=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_models_section_from_the_gateway_issue(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[models.primary]\nprovider = "openai"\nbase_url = "http://127.0.0.1:9001/v1"\nmodel = "gpt-4o-mini"\n'
        'api_key_env = "PRIMARY_API_KEY"\ninput_price_per_mtok = 0.15\noutput_price_per_mtok = 0.60\n'
        'timeout_s = 5\n\n[routes.default]\nmodels = ["primary"]\nstrategy = "priority"\n'
    )
    s = load_settings(path)
    assert s.models["primary"].timeout_s == 5 and s.routes["default"].models == ["primary"]


def test_environment_overrides(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("data_dir = 'store'\n[retrieval]\nk = 3\n")
    assert load_settings(path).data_dir == tmp_path / "store"
    monkeypatch.setenv("RAGWRIGHT_RETRIEVAL__K", "7")
    monkeypatch.setenv("RAGWRIGHT_HOME", str(tmp_path / "home"))
    s = load_settings(path)
    assert s.retrieval.k == 7 and s.data_dir == tmp_path / "home"
    assert load_settings(path, data_dir=tmp_path / "explicit").data_dir == tmp_path / "explicit"
    monkeypatch.setenv("RAGWRIGHT_RETRIEVAL__K", "-1")
    with pytest.raises(ConfigError, match=r"retrieval\.k"):
        load_settings(path)


def test_missing_explicit_config(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_every_commented_example_in_the_template_is_valid(tmp_path, monkeypatch):
    """Uncommenting the examples of `ragwright init` must give a working file, not a config error."""
    lines = []
    for line in DEFAULT_TOML.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("# [") or (
            stripped.startswith("# ") and "=" in stripped.split("#")[1][:40] and not stripped.startswith("# ragwright")
        ):
            line = stripped[2:]
        lines.append(line)
    path = tmp_path / "ragwright.toml"
    path.write_text("\n".join(lines))
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    s = load_settings(path)
    assert s.routes["default"].models == ["primary", "claude", "local"] and s.models["claude"].provider == "anthropic"
    assert s.budgets["per-tenant"].period == "day" and s.answer.model == "local" and s.ingest.include
