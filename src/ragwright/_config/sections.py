"""One model per section of ragwright.toml ([ingest], [embedding], [retrieval], [answer],
[models.NAME], [routes.NAME], [budgets.NAME], [gateway], [observe], [server], [store]): what each
key means, its default and what it allows. Settings (config.py) gathers them and reads them from
the file and the environment; import them from ragwright.config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    privacy: Literal["auto", "none", "redact"] = Field(
        "auto",
        description="provider openai: redact replaces personal data by placeholders in every text sent to "
        "the endpoint (documents and questions alike, which changes their vectors); auto: redact when a "
        '[models.NAME] has privacy = "redact"; a local embedder sends nothing anywhere',
    )
    privacy_entities: list[str] = Field(
        default_factory=lambda: list(PRIVATE_ENTITIES), description="what privacy hides (Presidio labels; SECRET)"
    )


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
        description="prompt-injection policy for the user turns and tool results a call brings (those "
        "after its last assistant turn) on this route: flag notes each in the trace, block refuses the call",
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
    redact_max_chars: int = Field(
        100_000,
        ge=1,
        description='most characters of text one call may send to a privacy = "redact" model (its '
        "detectors take ~0.1-1 ms a token); a larger call is refused, naming this setting",
    )


class ObserveSettings(_Section):
    traces: bool = Field(True, description="keep a trace of every search, ask, chat and evaluation in the store")
    retention_days: float = Field(30.0, gt=0)
    audit_retention_days: float = Field(
        0.0,
        ge=0,
        description="the server's audit log rows older than this are deleted (at start, then hourly); "
        "0 keeps them for good",
    )
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
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="a request body but an upload's must arrive whole within this, with no pause over 30 s: "
        "408 otherwise, and the connection is closed",
    )
    header_timeout_s: float = Field(
        20.0,
        ge=0,
        description="a connection must send a request's headers whole within this of opening (or of its "
        "request's first byte): closed otherwise, with 408 if a request had begun (0: no deadline)",
    )
    max_connections: int = Field(
        0,
        ge=0,
        description="connections a worker process holds at once (uvicorn's limit_concurrency): a request "
        "beyond gets 503 and its connection is closed (0: no limit, the default: the bound counts idle "
        "sockets too, so anyone who can connect can fill it; set it where the clients are your own)",
    )
    search_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="searches that run the embedding model at once in a worker process; the rest "
        "wait their turn in arrival order (0: 2 for the in-process model, no limit for a remote one)",
    )
    ask_threads: int = Field(
        16,
        ge=1,
        le=256,
        description="asks (/v1/ask, rag: chat models, MCP's ask) a worker process answers at once, on threads "
        "of their own (not the pool the other endpoints share); another waits its turn for up to ask_wait_s",
    )
    ask_threads_per_tenant: int = Field(
        0,
        ge=0,
        le=256,
        description="of those, the most one tenant's keys hold at once; its other asks wait for one of its own "
        "(0: half of ask_threads, at least 1; a tenant holding some leaves the last eighth to tenants holding none)",
    )
    ask_wait_s: float = Field(
        10.0,
        ge=0,
        le=600,
        description="an ask that finds no slot it may take waits this long for one, then gets 503 busy with "
        "Retry-After (0: refused at once)",
    )
    chat_threads: int = Field(
        32,
        ge=1,
        le=256,
        description="chats with a gateway route or model (/v1/chat/completions, not rag:) a worker process "
        "answers at once, streamed or not, on threads of their own (not the asks', not the shared pool); "
        "another waits its turn for up to chat_wait_s",
    )
    chat_threads_per_tenant: int = Field(
        0,
        ge=0,
        le=256,
        description="of those, the most one tenant's keys hold at once (0: half of chat_threads, at least 1)",
    )
    chat_wait_s: float = Field(
        10.0,
        ge=0,
        le=600,
        description="a gateway chat that finds no slot it may take waits this long for one, then gets 503 "
        "busy with Retry-After (0: refused at once)",
    )
    max_uploads: int = Field(
        4,
        ge=1,
        le=256,
        description="uploads a worker process receives at once; another gets 503 with Retry-After "
        "(each may spool up to 20 files of ingest.max_file_mb to the temporary directory)",
    )
    max_uploads_per_tenant: int = Field(
        0,
        ge=0,
        le=256,
        description="of those, the most one tenant's keys send at once; another of its uploads gets 503 "
        "with Retry-After (0: half of max_uploads, at least 1, so one tenant never holds them all)",
    )
    upload_timeout_s: float = Field(
        600.0,
        gt=0,
        description="an upload's body must arrive whole within this, with no pause over 30 s: "
        "408 otherwise, and what was received is removed",
    )
    upload_min_kb_s: float = Field(
        64.0,
        ge=0,
        description="after its first 10 s, an upload's body must keep up an average of this many KB/s "
        "(a body of N KB is done by 10 s + N / this): 408 otherwise, and what was received is removed "
        "(0: no minimum)",
    )
    stream_stall_s: float = Field(
        60.0,
        ge=0,
        description="a streaming client that takes longer than this to accept one event (it keeps "
        "the connection but reads nothing) is treated as gone: the model's stream is stopped and "
        "booked as the partial call it was, and the connection is reset (0: wait for it)",
    )


class StoreSettings(_Section):
    url: str = Field(
        "",
        description="where the store lives: sqlite:///PATH or postgresql://USER@HOST:PORT/DB (empty: "
        "DATA_DIR/ragwright.db); RAGWRIGHT_STORE_URL overrides it",
    )
    statement_timeout_s: float = Field(
        5.0,
        ge=0,
        description="a read statement (a search, a listing) is cancelled after this long, on PostgreSQL and "
        "SQLite alike, and a server request answers 503 (0: never); writes and whole-index reads are not bounded",
    )
