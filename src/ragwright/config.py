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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigError

DEFAULT_CONFIG_NAME = "ragwright.toml"
DEFAULT_DATA_DIR = ".ragwright"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# What is private by default: every structured type, secrets and people's names. Organisations,
# places and dates stay: the detector is less sure of them (precision 0.36-0.78 on held-out text)
# and questions need them.
PRIVATE_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "US_DRIVER_LICENSE",
    "PERSON",
    "SECRET",
)


class IngestSettings(_Section):
    include: list[str] = Field(default_factory=list, description="glob patterns a file must match (empty: all)")
    exclude: list[str] = Field(
        default_factory=lambda: [".git/**", "**/.git/**", "**/node_modules/**", "**/.ragwright/**", "**/.venv/**"]
    )
    max_file_mb: float = Field(50.0, gt=0)
    max_docx_uncompressed_mb: float = Field(
        100.0, gt=0, description="what a DOCX may expand to, all members (media too: python-docx reads them all)"
    )
    max_docx_xml_elements: int = Field(
        1_000_000,
        ge=1,
        description="XML tags a DOCX may hold, counted before parsing: python-docx spends about "
        "20 us and 340 bytes on each (a 2,000-page book has about 500,000)",
    )
    parse_timeout_s: float = Field(120.0, gt=0, description="a DOCX or PDF still parsing then is stopped")
    parse_memory_mb: int = Field(1024, ge=64, description="memory a DOCX or PDF parse may use beyond the parser's own")
    chunk_tokens: int = Field(240, ge=32, le=8192)
    chunk_overlap: int = Field(32, ge=0)
    fallback_encodings: list[str] = Field(default_factory=list)
    batch_chunks: int = Field(512, ge=1, le=100_000, description="chunks embedded and committed together")
    secrets: Literal["off", "flag", "redact"] = Field(
        "flag",
        description="API keys, tokens and private keys in documents: flag reports them, redact also "
        "replaces them by <LABEL> before indexing",
    )
    redact_pii: Literal["off", "mask", "placeholder"] = Field(
        "off", description="replace personal data in documents before indexing (mask: *****, placeholder: <LABEL>)"
    )
    pii_entities: list[str] = Field(
        default_factory=lambda: [e for e in PRIVATE_ENTITIES if e != "SECRET"],
        description="what redact_pii replaces (Presidio labels)",
    )


class EmbeddingSettings(_Section):
    provider: Literal["local", "openai"] = "local"
    model: str = "all-MiniLM-L6-v2"
    base_url: str = ""
    api_key_env: str = ""
    batch_size: int = Field(32, ge=1, le=1024)
    max_tokens: int = Field(256, ge=8, le=512)
    threads: int = Field(0, ge=0, description="onnxruntime threads; 0 = all cores")
    timeout_s: float = Field(30.0, gt=0)


class RetrievalSettings(_Section):
    k: int = Field(10, ge=1, le=1000)
    candidates: int = Field(100, ge=1, le=10000)
    fusion: Literal["relative_score", "rrf"] = "relative_score"
    bm25_weight: float = Field(0.45, ge=0)
    dense_weight: float = Field(0.55, ge=0)
    rrf_k: float = Field(60.0, gt=0)
    bm25_k1: float = Field(0.9, ge=0)
    bm25_b: float = Field(0.4, ge=0, le=1)
    ann_threshold: int = Field(250_000, ge=0, description="above this many vectors, use an HNSW index")


class AnswerSettings(_Section):
    model: str = Field("", description="a route or [models.NAME] that generates answers; empty = extractive")
    context_chunks: int = Field(5, ge=1, le=50)
    max_sentences: int = Field(3, ge=1, le=20)
    abstain_threshold: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="refuse below this similarity; unset = calibrated per workspace from how its "
        "corpus scores off-topic probes (`ragwright calibrate`)",
    )
    max_question_chars: int = Field(4000, ge=1, le=4000)  # the HTTP schema's limit too: it can only be lowered
    max_output_tokens: int = Field(400, ge=16)
    agent_max_steps: int = Field(
        4,
        ge=1,
        le=20,
        description="model turns of an agent ask (ask --agent, rag:agent) before it answers from what it found",
    )
    injection: Literal["off", "flag", "block", "drop"] = Field(
        "off",
        description="prompt-injection policy of asks (and of chat with model rag:default): flag marks the "
        "answer, block refuses it, drop leaves flagged passages out and says so",
    )


class ModelSettings(_Section):
    provider: Literal["openai", "anthropic", "local"] = Field(
        "openai", description="wire protocol; local = the bundled SmolLM2, started on first use"
    )
    base_url: str = Field("", description="required for openai; anthropic defaults to https://api.anthropic.com")
    model: str
    api_key_env: str = Field("", description="the environment variable that holds the key")
    context_window: int = Field(8192, ge=256)
    input_price_per_mtok: float = Field(0.0, ge=0)
    output_price_per_mtok: float = Field(0.0, ge=0)
    timeout_s: float = Field(60.0, gt=0, description="per attempt")
    keep_alive_s: float = Field(
        600.0,
        ge=0,
        description="provider local: the server is shared by later calls and processes, and exits "
        "after this long without a request; 0: one server per process, stopped with it",
    )
    max_retries: int | None = Field(None, ge=0, le=10, description="retries of this model (default: gateway's)")
    json_mode: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description="how structured output is asked for: OpenAI json_schema, llama.cpp's "
        "json_object + schema, or only in the prompt",
    )
    tools: bool = Field(
        True,
        description="whether the model takes tools (function calling); false: a call that offers tools "
        "skips it, so the route falls back to a model that does",
    )
    privacy: Literal["none", "redact"] = Field(
        "none",
        description="redact: personal data is replaced by placeholders before any request reaches this "
        "model, and restored in its answer",
    )
    privacy_entities: list[str] = Field(
        default_factory=lambda: list(PRIVATE_ENTITIES),
        description="what privacy = redact hides (Presidio labels; SECRET = API keys, tokens, private keys)",
    )

    @model_validator(mode="after")
    def _needs_url(self) -> ModelSettings:
        if self.provider == "openai" and not self.base_url:
            raise ValueError("provider 'openai' needs base_url, e.g. http://127.0.0.1:8011/v1")
        return self


class RouteSettings(_Section):
    models: list[str] = Field(min_length=1)
    injection: Literal["off", "flag", "block"] = Field(
        "off",
        description="prompt-injection policy for the user's messages on this route: flag notes it in the "
        "trace, block refuses the call",
    )
    strategy: Literal["priority", "lowest_latency", "lowest_cost"] = "priority"
    deadline_s: float | None = Field(
        None,
        gt=0,
        description="for the whole call (default: gateway.deadline_s; unset too: each model's "
        "timeout_s plus its retries' pauses, summed over the route)",
    )
    fallback_on_refusal: bool = False


class BudgetSettings(_Section):
    scope: Literal["key", "tenant", "route", "model", "global"]
    subject: str = Field("", description="one key/tenant/route/model; empty: each one separately")
    limit_usd: float = Field(gt=0)
    period: Literal["hour", "day", "month", "total"] = "day"


class GatewaySettings(_Section):
    deadline_s: float | None = Field(
        None,
        gt=0,
        description="default deadline per call, all attempts included (unset: derived from the "
        "models' timeout_s, see RouteSettings.deadline_s)",
    )
    max_retries: int = Field(2, ge=0, le=10)
    retry_base_s: float = Field(0.25, ge=0)
    retry_cap_s: float = Field(8.0, ge=0)
    max_retry_after_s: float = Field(30.0, ge=0)
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(30.0, ge=0)
    cache: bool = Field(True, description="exact cache of deterministic (temperature 0) requests")
    cache_ttl_s: float = Field(86400.0, gt=0)
    semantic_cache: bool = False
    semantic_threshold: float = Field(0.90, gt=0, le=1, description="measured: bench/semantic_cache.py")


class ObserveSettings(_Section):
    traces: bool = Field(True, description="keep a trace of every search, ask, chat and evaluation in the store")
    retention_days: float = Field(30.0, gt=0)
    redact: Literal["auto", "on", "off"] = Field(
        "auto",
        description='store traces with personal data replaced by <LABEL> (auto: when a model has privacy = "redact")',
    )
    otlp_endpoint: str = Field(
        "",
        description="an OTLP/HTTP collector (e.g. http://127.0.0.1:4318): traces are "
        "also sent there; empty = nothing leaves the machine",
    )
    otlp_headers: dict[str, str] = Field(default_factory=dict, description="e.g. an Authorization header")
    otlp_include_text: bool = Field(False, description="also export questions, passages and answers")


class ServerSettings(_Section):
    max_body_mb: float = Field(
        1.0,
        gt=0,
        description="largest request body but a file upload (uploads have "
        "ingest.max_file_mb): refused with 413 as it arrives",
    )


class StoreSettings(_Section):
    url: str = Field(
        "",
        description="where the store lives: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (empty: "
        "DATA_DIR/ragwright.db); RAGWRIGHT_STORE_URL overrides it",
    )


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


DEFAULT_TOML = """\
# ragwright configuration. Every key is optional; the values shown are the defaults.
# Environment variables override this file: RAGWRIGHT_HOME=DIR, RAGWRIGHT_RETRIEVAL__K=20, ...

# Where the store lives (one SQLite file); relative paths are relative to this file.
# data_dir = ".ragwright"

[ingest]
# include = ["**/*.md", "docs/**"]     # glob patterns a file must match (empty: every supported file)
# exclude = [".git/**", "**/node_modules/**"]
max_file_mb = 50                       # larger files are refused with an error
parse_timeout_s = 120                  # a DOCX or PDF still parsing then is stopped
parse_memory_mb = 1024                 # memory one DOCX or PDF parse may use
chunk_tokens = 240                     # chunk size in embedder tokens
chunk_overlap = 32                     # tokens repeated between neighbouring chunks of a section
batch_chunks = 512                     # chunks embedded and committed together
# fallback_encodings = ["cp1252"]      # tried when a text file is not valid UTF-8
secrets = "flag"                       # API keys, tokens, private keys: "flag" (reported), "redact", "off"
redact_pii = "off"                     # personal data replaced before indexing: "mask", "placeholder", "off"

[embedding]
provider = "local"                     # "local" (all-MiniLM-L6-v2 on onnxruntime) or "openai"
# base_url = "http://127.0.0.1:8080/v1" # for provider = "openai": any OpenAI-compatible /embeddings
# model = "text-embedding-3-small"
# api_key_env = "OPENAI_API_KEY"        # the variable that holds the key, never the key itself
batch_size = 32

[retrieval]
k = 10                                 # results returned
candidates = 100                       # results taken from BM25 and from dense search before fusion
fusion = "relative_score"              # or "rrf" (reciprocal rank fusion)
bm25_weight = 0.45                     # fusion weights (tuned on SciFact's train split)
dense_weight = 0.55
rrf_k = 60                             # for fusion = "rrf"
bm25_k1 = 0.9                          # BM25 term-frequency saturation
bm25_b = 0.4                           # BM25 length normalisation

[answer]
# model = "local"                      # a [models.NAME] below generates answers; unset = extractive answers
context_chunks = 5
max_sentences = 3
# abstain_threshold = 0.35             # a fixed refusal threshold; unset = calibrated per workspace
injection = "off"                      # prompt injection in the question or a passage: "flag", "block", "drop"

# Models and routes for the gateway (`ragwright chat`, generated answers, evaluation judges).
# [models.local]                       # the bundled SmolLM2-135M, started by ragwright on first use
# provider = "local"
# model = "smollm2-135m"
# keep_alive_s = 600                   # the server is reused by later commands, and exits after 10 idle minutes
#
# [models.primary]
# provider = "openai"                  # OpenAI-compatible wire protocol (OpenAI, vLLM, Ollama, llama.cpp, ...)
# base_url = "http://127.0.0.1:8000/v1"
# model = "gpt-4o-mini"
# api_key_env = "OPENAI_API_KEY"       # the variable that holds the key, never the key itself
# context_window = 128000
# input_price_per_mtok = 0.15          # USD per million tokens, for cost accounting and budgets
# output_price_per_mtok = 0.60
# timeout_s = 30                       # per attempt
# json_mode = "json_schema"            # structured output: "json_schema", "json_object" (llama.cpp) or "none"
# tools = true                         # takes tools; false: a call with tools falls back to the next model
# privacy = "redact"                   # personal data never reaches this model: placeholders out, values back
#
# [models.claude]
# provider = "anthropic"               # Anthropic Messages API
# model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"
#
# [routes.default]                     # `ragwright chat --model default`; tried in order until one answers
# models = ["primary", "claude", "local"]
# strategy = "priority"                # or "lowest_latency", "lowest_cost"
# deadline_s = 60                      # for the whole call, retries and fallbacks included (unset: the
#                                      # models' timeout_s plus retry pauses, summed)
# fallback_on_refusal = false
# injection = "block"                  # a user message that tries to override instructions is refused

[gateway]
max_retries = 2                        # per model, on timeouts, 408/409/429/5xx, broken connections
retry_base_s = 0.25                    # exponential backoff with full jitter; Retry-After is honoured
breaker_threshold = 5                  # failures in a row that open a model's circuit
breaker_cooldown_s = 30                # then one probe call is let through
cache = true                           # exact cache of temperature-0 requests
cache_ttl_s = 86400
semantic_cache = false                 # answers reworded prompts; never ones with other content words
semantic_threshold = 0.90              # measured: bench/semantic_cache.py (0 false hits on SciFact pairs)

[observe]
traces = true                          # every search, ask, chat and evaluation leaves a trace in the store
retention_days = 30
# otlp_endpoint = "http://127.0.0.1:4318" # also export traces over OTLP/HTTP (GenAI conventions); off by default
# otlp_include_text = false            # texts stay home unless this is true

[store]
# url = "postgresql://ragwright@db.internal:5432/ragwright"  # or sqlite:///PATH; unset: DATA_DIR/ragwright.db
#                                      # (RAGWRIGHT_STORE_URL overrides it; a password is better in ~/.pgpass)

[server]
max_body_mb = 1                        # larger request bodies get 413 (uploads: ingest.max_file_mb per file)

# [budgets.per-tenant]                 # reserved before each call, settled after: concurrent calls cannot overshoot
# scope = "tenant"                     # "key", "tenant", "route", "model" or "global"
# subject = ""                         # one key/tenant/route/model; empty: each one separately
# limit_usd = 10
# period = "day"                       # "hour", "day", "month" or "total"
"""
