"""Settings from `ragwright.toml` and `RAGWRIGHT_*` environment variables, read with pydantic-settings.

Precedence, highest first: explicit arguments (`--data-dir`), environment variables
(`RAGWRIGHT_HOME`, `RAGWRIGHT_RETRIEVAL__K=5`, ...), the TOML file, defaults.
A wrong key or value is reported with the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# The sections and the template live in _config/; their names are imported from here.
from ._config.sections import PRIVATE_ENTITIES as PRIVATE_ENTITIES
from ._config.sections import AnswerSettings as AnswerSettings
from ._config.sections import BudgetSettings as BudgetSettings
from ._config.sections import EmbeddingSettings as EmbeddingSettings
from ._config.sections import GatewaySettings as GatewaySettings
from ._config.sections import IngestSettings as IngestSettings
from ._config.sections import ModelSettings as ModelSettings
from ._config.sections import ObserveSettings as ObserveSettings
from ._config.sections import RetrievalSettings as RetrievalSettings
from ._config.sections import RouteSettings as RouteSettings
from ._config.sections import ServerSettings as ServerSettings
from ._config.sections import StoreSettings as StoreSettings
from ._config.template import DEFAULT_TOML as DEFAULT_TOML
from .errors import ConfigError

DEFAULT_CONFIG_NAME = "ragwright.toml"
DEFAULT_DATA_DIR = ".ragwright"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAGWRIGHT_", env_nested_delimiter="__", extra="forbid", validate_assignment=True
    )

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    models: dict[str, ModelSettings] = Field(default_factory=dict)
    routes: dict[str, RouteSettings] = Field(default_factory=dict)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    budgets: dict[str, BudgetSettings] = Field(default_factory=dict)
    observe: ObserveSettings = Field(default_factory=ObserveSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments, then RAGWRIGHT_* variables, then the TOML file that load_settings read.
        return (init_settings, env_settings, _TomlValues(settings_cls))

    @property
    def db_path(self) -> Path:
        return self.data_dir / "ragwright.db"


_toml_values: ContextVar[dict[str, Any] | None] = ContextVar("ragwright_toml_values", default=None)


class _TomlValues(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (_toml_values.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_values.get() or {})


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The config file in force: --config, then RAGWRIGHT_CONFIG, then ./ragwright.toml if present."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"{explicit}: config file not found")
        return explicit
    env = os.environ.get("RAGWRIGHT_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: config file named by RAGWRIGHT_CONFIG not found")
        return path
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def load_settings(config_file: Path | None = None, data_dir: Path | None = None, **overrides: Any) -> Settings:
    """Read settings; raise ConfigError naming the file, the key and what is allowed."""
    path = find_config_file(config_file)
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    token = _toml_values.set(values)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, path)) from exc
    finally:
        _toml_values.reset(token)
    store_url = os.environ.get("RAGWRIGHT_STORE_URL")
    if store_url and "store" not in overrides:  # the name for RAGWRIGHT_STORE__URL, which works too
        settings.store.url = store_url
    home = os.environ.get("RAGWRIGHT_HOME")
    if data_dir is not None:
        settings.data_dir = Path(data_dir)
    elif home:
        settings.data_dir = Path(home)
    elif (
        path is not None
        and "data_dir" in values
        and not Path(settings.data_dir).is_absolute()
        and "RAGWRIGHT_DATA_DIR" not in os.environ
    ):
        settings.data_dir = path.parent / settings.data_dir
    return settings


def _explain(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "settings"
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(_allowed_keys(loc[:-1])))
            lines.append(f"{where}: unknown key '{key}' (allowed here: {allowed})")
        else:
            lines.append(f"{where}: {key} = {err.get('input')!r}: {err['msg']}")
    return "\n".join(lines) + "\n(environment variables RAGWRIGHT_<SECTION>__<KEY> are checked too)"


def _allowed_keys(loc: list[str]) -> list[str]:
    model: Any = Settings
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif args and isinstance(args[-1], type) and issubclass(args[-1], BaseModel):
            model = args[-1]  # dict[str, Section]: the next part is the entry's name
        else:
            return []
    return list(model.model_fields)
