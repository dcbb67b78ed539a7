"""Where the server keeps an upload: `<data dir>/uploads/<tenant digest>/<scope digest>/<name>`
(server/uploads.py makes the folders). Spelled once, here, for every layer that must recognise
such a path without importing the server: the store's `source` filters (store/sql.py), the
locations prompts show (generate/grounded.py), the stream's held text (server/ask_stream.py)
and the server's path scrubber."""

FOLDER = "uploads"
DIGEST_CHARS = 16  # hex characters of each folder's digest
DIGEST = f"[0-9a-f]{{{DIGEST_CHARS}}}"  # one folder's digest, as a regular expression
DIGESTS_LEN = 2 * (DIGEST_CHARS + 1)  # "<digest>/<digest>/" after "uploads/"
