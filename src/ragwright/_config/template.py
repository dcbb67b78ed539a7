"""The ragwright.toml that `ragwright init` writes: every key optional, the values shown the
defaults (tests/test_config.py loads it and checks them). Import it from ragwright.config."""

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
# privacy = "auto"                     # "openai": personal data replaced before it is sent ("redact"),
#                                      # auto: when a model below has privacy = "redact"; or "none"
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
redact_max_chars = 100000              # text per call a privacy = "redact" model may be sent (redacting costs CPU)

[observe]
traces = true                          # every search, ask, chat and evaluation leaves a trace in the store
retention_days = 30
audit_retention_days = 0               # the server's audit log: rows older than this go; 0 keeps them
# otlp_endpoint = "http://127.0.0.1:4318" # also export traces over OTLP/HTTP (GenAI conventions); off by default
# otlp_include_text = false            # texts stay home unless this is true

[store]
# url = "postgresql://ragwright@db.internal:5432/ragwright"  # or sqlite:///PATH; unset: DATA_DIR/ragwright.db
#                                      # (RAGWRIGHT_STORE_URL overrides it; a password is better in ~/.pgpass)
statement_timeout_s = 5                # a request's read running longer is cancelled (a 503; SQLite too); 0: never

[server]
max_body_mb = 1                        # larger request bodies get 413 (uploads: ingest.max_file_mb per file)
body_timeout_s = 30                    # a request body (not an upload) arriving slower than this gets 408
header_timeout_s = 20                  # a connection whose request headers take longer is closed (408 if begun)
max_connections = 0                    # per worker process; a request beyond gets 503; 0: no limit
ask_threads = 16                       # asks answered at once (own threads); others wait up to ask_wait_s
ask_threads_per_tenant = 0             # of them, one tenant's at once; 0: half of ask_threads, at least 1
ask_wait_s = 10                        # an ask waiting longer for a slot gets 503 busy with Retry-After
chat_threads = 32                      # gateway chats (not rag:) answered at once, streamed or not (own threads)
chat_threads_per_tenant = 0            # of them, one tenant's at once; 0: half of chat_threads, at least 1
chat_wait_s = 10                       # a gateway chat waiting longer for a slot gets 503 busy with Retry-After
max_uploads_per_tenant = 0             # uploads one tenant sends at once; 0: half of max_uploads (4), at least 1
upload_min_kb_s = 64                   # an upload's body averaging less after its first 10 s gets 408; 0: no minimum
stream_stall_s = 60                    # a streaming client that reads nothing this long: its model stream is stopped

# [budgets.per-tenant]                 # reserved before each call, settled after: concurrent calls cannot overshoot
# scope = "tenant"                     # "key", "tenant", "route", "model" or "global"
# subject = ""                         # one key/tenant/route/model; empty: each one separately
# limit_usd = 10
# period = "day"                       # "hour", "day", "month" or "total"
"""
