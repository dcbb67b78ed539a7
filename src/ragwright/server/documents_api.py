"""/v1/documents and /v1/jobs: uploads admitted before their body is read (AdmittedFirst), saved
whole, then ingested by a background job (workers.py); the documents a key may read, a page at a
time; one document's record, and its deletion with the uploaded bytes. A document the key may not
read answers as one that does not exist.

Sources and locations of uploads are server paths here: every response body leaves through
PublicPathsMiddleware (uploads.py), which names an upload by its file name."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from ..ingest.doc_ids import file_doc_id
from ..ingest.parsers import FORMATS
from ..types import DocumentRecord
from .auth import Principal, group_names
from .bodies import MAX_UPLOAD_FILES, BodyLate, timed_receive
from .deps import ApiError, authenticated, require, state_of
from .uploads import safe_name, scope_folder

router = APIRouter()
UPLOAD_IDLE_S = 30.0  # the longest pause in an upload's body (and never past server.upload_timeout_s)
LINGER_BYTES, LINGER_S = 1 << 20, 5.0  # what of a refused upload's body is read before the refusal
UPLOAD_PACE_GRACE_S = 10.0  # server.upload_min_kb_s is owed from this far into a body: a slow start is free
_may_write = require("write")


class AdmittedFirst(APIRoute):
    """A route that admits a request before FastAPI reads its body. FastAPI parses a form whole
    (Starlette spools each file over 1 MB to a temporary file) before it runs any dependency, the
    key's check included: anyone, without a key, made the server write ~1 GB to /tmp per request
    before its 401, and keep it while the body's last bytes were held back (review 15). Here the
    key must have the write scope (401, 403 with the body unread: JsonBodies closes the
    connection), a slot among [server] max_uploads must be free, and its tenant may hold only its
    share of them (503), and the body must arrive within [server] upload_timeout_s, with no pause
    over UPLOAD_IDLE_S and at [server] upload_min_kb_s on average after UPLOAD_PACE_GRACE_S (408;
    Starlette closes, so removes, the temporary files of a form it did not finish). Review 15b: one
    tenant's key held every slot for 600 s by sending a byte every 5 s, and every other tenant's
    upload got 503 all that time."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        read_and_run = super().get_route_handler()

        async def admitted(request: Request) -> Response:
            try:
                principal = await authenticated(request)  # sets request.state.principal
                await _may_write(principal)
            except ApiError:
                await _linger(request)
                raise
            settings = state_of(request).ws.settings.server
            slots, tenant = _upload_slots(request), principal.tenant
            share = tenant_share(settings.max_uploads, settings.max_uploads_per_tenant)
            if slots.busy >= settings.max_uploads:
                raise _busy(f"this server is receiving {slots.busy} uploads, its most at once (server.max_uploads)")
            if slots.of_tenant.get(tenant, 0) >= share:
                raise _busy(
                    f"your tenant is sending {slots.of_tenant[tenant]} uploads, its most at once "
                    f"(server.max_uploads_per_tenant: {share} of server.max_uploads = {settings.max_uploads})"
                )
            slots.busy += 1
            slots.of_tenant[tenant] = slots.of_tenant.get(tenant, 0) + 1
            try:
                receive = timed_receive(
                    request.receive,
                    settings.upload_timeout_s,
                    UPLOAD_IDLE_S,
                    setting="server.upload_timeout_s",
                    what="the upload's body",
                    min_rate=settings.upload_min_kb_s * 1024,
                    grace_s=UPLOAD_PACE_GRACE_S,
                )
                return await read_and_run(Request(request.scope, receive))
            except BodyLate as late:
                raise ApiError(408, "timeout", f"{late.detail}: nothing was stored") from None
            finally:
                slots.busy -= 1
                slots.of_tenant[tenant] -= 1
                if not slots.of_tenant[tenant]:
                    del slots.of_tenant[tenant]

        return admitted


async def _linger(request: Request) -> None:
    """A small body that a refusal (401, 403) comes before is read and dropped first, within
    LINGER_S: a client still writing it saw its connection closed mid-write (EPIPE, a connection
    error) instead of the refusal. A larger body is not read: the refusal closes the connection."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > LINGER_BYTES:
        return
    with contextlib.suppress(TimeoutError, ClientDisconnect):
        async with asyncio.timeout(LINGER_S):
            async for _ in request.stream():
                pass


def tenant_share(max_uploads: int, per_tenant: int) -> int:
    """The slots one tenant may hold at once: [server] max_uploads_per_tenant, and 0 there means
    half of max_uploads (at least 1), so one tenant never takes them all while there are two."""
    return min(per_tenant or max(1, max_uploads // 2), max_uploads)


def _busy(why: str) -> ApiError:
    return ApiError(503, "busy", f"{why}: send it again shortly", {"Retry-After": "5"})


class _Slots:
    """Uploads of this app being received, in all and by tenant: only the event loop's thread counts them."""

    def __init__(self) -> None:
        self.busy = 0
        self.of_tenant: dict[str, int] = {}


def _upload_slots(request: Request) -> _Slots:
    slots = getattr(request.app.state, "upload_slots", None)
    if slots is None:
        slots = request.app.state.upload_slots = _Slots()
    return slots


async def _admitted_key(request: Request) -> Principal:
    """The key AdmittedFirst checked, not checked again (that would take a second rate-limit token)."""
    principal: Principal = request.state.principal
    return principal


uploads = APIRouter(route_class=AdmittedFirst)


@uploads.post("/documents", status_code=202, tags=["documents"])
async def upload_documents(
    request: Request,
    file: list[UploadFile] = File(..., description="one or more files"),
    groups: str | None = Form(
        None,
        description="comma-separated groups that may read them; default: the key's own groups "
        "(a key without groups, or an admin key: the whole tenant)",
    ),
    principal: Principal = Depends(_admitted_key),  # a write key, checked before the body is read
) -> dict[str, Any]:
    """Save the files, then ingest them in a background job: poll GET /v1/jobs/{job_id}."""
    state = state_of(request)
    limit = int(state.ws.settings.ingest.max_file_mb * 1024 * 1024)
    try:
        wanted = group_names((groups or "").split(","))  # no control character: see group_names
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    admin = "admin" in principal.scopes
    if not wanted and principal.groups and not admin:
        # A key confined to groups publishes within them: an ungrouped upload would reach every
        # reader of the tenant (review 14: an eng key's notice read by hr), so it takes the key's.
        wanted = list(principal.groups)
    foreign = [g for g in wanted if g not in principal.groups]
    if foreign and not admin:
        raise ApiError(
            403, "forbidden", f"your key is not in group(s) {', '.join(foreign)}: it could not read what it uploads"
        )
    if len(file) > MAX_UPLOAD_FILES:
        raise ApiError(400, "invalid_request", f"at most {MAX_UPLOAD_FILES} files in one upload (sent {len(file)})")
    names = [_safe_name(f.filename or "") for f in file]
    for f, name in zip(file, names, strict=True):
        if Path(name).suffix.lower() not in FORMATS:
            raise ApiError(
                415,
                "unsupported_type",
                f"'{f.filename}': unsupported file type (supported: {', '.join(sorted(FORMATS))})",
            )
    if len(set(names)) < len(names):
        raise ApiError(400, "invalid_request", "two uploaded files have the same name")
    folder = scope_folder(_uploads_root(request), principal.tenant, wanted)  # another scope: another document
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []  # each file's .part, named for this upload alone
    final = [folder / name for name in names]
    try:
        for f, path in zip(file, final, strict=True):
            saved.append(await _save(f, path, limit))
    except BaseException:
        for part in saved:
            part.unlink(missing_ok=True)
        raise
    for part, path in zip(saved, final, strict=True):
        part.replace(path)  # whole files only: a job never sees half an upload
    # the ids before the job can run: the first upload to a new store makes the key the job uses
    sources = [str(p.resolve()) for p in final]  # (ids keyed by the workspace's secret: no path in them)
    doc_ids = await run_in_threadpool(lambda: [file_doc_id(state.ws.store, s) for s in sources])
    job_id = "j_" + secrets.token_hex(8)
    await run_in_threadpool(  # a database-backed store must not block the event loop
        state.ws.store.add_job,
        job_id,
        "ingest",
        principal.tenant,
        principal.key_id,
        {"paths": [str(p) for p in final], "groups": wanted},
    )
    state.jobs.submit(job_id)
    request.state.doc_ids = doc_ids
    return {"job_id": job_id, "document_ids": doc_ids, "status": "queued", "status_url": f"/v1/jobs/{job_id}"}


router.include_router(uploads)


def _safe_name(filename: str) -> str:
    name = safe_name(filename)
    if name is None:
        raise ApiError(400, "invalid_request", "every uploaded file needs a file name with an extension")
    return name


def _create(part: Path) -> BinaryIO:
    """The start-up clean-up removes upload folders left empty for minutes: one may go between
    the upload's mkdir and this open, so the folder is made again once."""
    try:
        return part.open("wb")
    except FileNotFoundError:
        part.parent.mkdir(parents=True, exist_ok=True)
        return part.open("wb")


async def _save(upload: UploadFile, path: Path, limit: int) -> Path:
    """The upload written to a .part of its own: two uploads of one name into one scope at once
    each write theirs (they wrote one .part together, interleaved), and the last renamed wins whole."""
    part = path.with_name(f"{path.name}.{secrets.token_hex(6)}.part")
    size = 0
    try:
        with _create(part) as out:
            while block := await upload.read(1 << 20):
                size += len(block)
                if size > limit:
                    raise ApiError(
                        413,
                        "too_large",
                        f"'{upload.filename}' is larger than the limit of {limit // (1024 * 1024)} MB "
                        "(ingest.max_file_mb)",
                    )
                out.write(block)
    except BaseException:  # too large, a full disk, the client gone: nothing half-written stays
        part.unlink(missing_ok=True)
        raise
    return part


@router.get("/jobs/{job_id}", tags=["documents"])
def get_job(job_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    job = state_of(request).ws.store.get_job(job_id)
    visible = job is not None and (
        job.get("key_id") == principal.key_id
        or principal.access.can_read(job["tenant"], job["payload"].get("groups", []))
    )
    if job is None or not visible:  # a job of another group looks like no job at all
        raise ApiError(404, "not_found", f"no job '{job_id}'")
    payload = job.pop("payload")
    job["files"] = [Path(p).name for p in payload["paths"]]
    job["groups"] = payload.get("groups", [])
    return job  # its report's paths are named as uploaded by PublicPathsMiddleware


@router.get("/documents", tags=["documents"])
def list_documents(
    request: Request,
    principal: Principal = Depends(require("read")),
    limit: int = Query(1000, ge=1, le=10_000, description="documents per page"),
    offset: int = Query(0, ge=0, le=2**62, description="documents to skip (by source)"),
) -> dict[str, Any]:
    """The documents this key may read, by source, a page at a time: `next_offset` is null on the last page."""
    ws, access = state_of(request).ws, {"access": principal.access}
    docs = ws.documents(access, limit, offset)
    total = ws.store.count_documents(access)
    more = offset + len(docs) < total
    return {
        "documents": [d.to_dict() for d in docs],
        "total": total,
        "next_offset": offset + len(docs) if more else None,
    }


def _visible(request: Request, doc_id: str, principal: Principal) -> DocumentRecord:
    docs = state_of(request).ws.documents({"access": principal.access, "doc_id": doc_id})
    if not docs:  # invisible and absent look the same: existence is not revealed
        raise ApiError(404, "not_found", f"no document '{doc_id}'")
    request.state.doc_ids = [doc_id]
    return docs[0]


@router.get("/documents/{doc_id}", tags=["documents"])
def get_document(doc_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _visible(request, doc_id, principal).to_dict()


@router.delete("/documents/{doc_id}", tags=["documents"])
def delete_document(doc_id: str, request: Request, principal: Principal = Depends(require("write"))) -> dict[str, Any]:
    doc = _visible(request, doc_id, principal)
    uploads = str(_uploads_root(request)) + "/"
    _may_delete(doc, principal, uploaded=doc.source.startswith(uploads))
    state_of(request).ws.delete(doc.doc_id)
    if doc.source.startswith(uploads):
        Path(doc.source).unlink(missing_ok=True)  # the uploaded bytes go too
    return {"deleted": doc.doc_id, "source": doc.source}


def _may_delete(doc: DocumentRecord, principal: Principal, *, uploaded: bool) -> None:
    """A write key deletes what it could have uploaded, and nothing more: an upload whose groups
    are all the key's, a tenant-wide upload only if the key has no groups. Reading one of a
    document's groups is not enough (a key of `eng` would take a document shared by `legal` away
    from `legal`'s readers), and what the operator ingested is deleted by an admin key only. The
    key may read the document: saying why reveals nothing."""
    if "admin" in principal.scopes:
        return
    if not uploaded:
        why = "was not uploaded through the API: only an admin key deletes it"
        raise ApiError(403, "forbidden", f"'{doc.doc_id}' {why}")
    if not doc.groups and principal.groups:
        why = "is readable by the whole tenant: only a key without groups or an admin key deletes it"
        raise ApiError(403, "forbidden", f"'{doc.doc_id}' {why}")
    foreign = sorted(set(doc.groups) - set(principal.groups))
    if foreign:
        raise ApiError(
            403,
            "forbidden",
            f"your key is not in group(s) {', '.join(foreign)} of '{doc.doc_id}': "
            "a write key deletes only documents all of whose groups it holds",
        )


def _uploads_root(request: Request) -> Path:
    return _resolved(str(state_of(request).ws.settings.data_dir)) / "uploads"


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> Path:
    """Resolving walks the path with a system call per part: once per data dir, not per result."""
    return Path(path).resolve()
