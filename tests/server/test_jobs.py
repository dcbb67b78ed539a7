"""Issue 16, items 5 and 6, as the attack: a big upload must not hold a small one behind it, and
what a kill -9 or a failed ingestion leaves in `uploads/` must not stay there for ever."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from ragwright import TextRecord
from ragwright.server.jobs import JobRunner


def _upload(ws, name: str, text: str, age_s: float = 0.0) -> Path:
    """A file where uploads go (tenant and access-scope folders), `age_s` old."""
    path = Path(ws.settings.data_dir).resolve() / "uploads" / ("a" * 16) / ("b" * 16) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if age_s:
        old = time.time() - age_s
        os.utime(path, (old, old))
    return path


def _job(ws, job_id: str, paths: list[Path]) -> str:
    ws.store.add_job(job_id, "ingest", "acme", None, {"paths": [str(p) for p in paths], "groups": []})
    return job_id


def _wait_done(ws, *job_ids: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = [ws.store.get_job(j) for j in job_ids]
        if all(j["status"] in ("done", "failed") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, jobs
        time.sleep(0.05)


@pytest.fixture
def runner(workspace):
    runners: list[JobRunner] = []

    def make() -> JobRunner:
        runners.append(JobRunner(workspace))
        return runners[-1]

    yield make
    for r in runners:
        r.stop(timeout=10)


def test_a_small_upload_does_not_wait_for_a_big_one(workspace, runner):
    """Job A's second file cannot start until job B's only file is stored: with jobs run one after
    the other, A would wait for B while B waits behind A (20 s, then A fails)."""
    big = [_upload(workspace, f"big{i}.md", f"# Big {i}\n\nPart {i} of the long report.\n") for i in range(3)]
    small = _upload(workspace, "small.md", "# Small\n\nThe short note.\n")
    first, second = _job(workspace, "j_big", big), _job(workspace, "j_small", [small])
    small_stored = threading.Event()
    ingest = workspace.ingest

    def gated(paths, **kw):
        if any(Path(p).name == "big1.md" for p in paths):
            assert small_stored.wait(20), "job A's files were all taken before job B's"
        report = ingest(paths, **kw)
        if any(Path(p).name == "small.md" for p in paths):
            small_stored.set()
        return report

    workspace.ingest = gated
    runner().start()
    big_job, small_job = _wait_done(workspace, first, second)
    assert (big_job["status"], small_job["status"]) == ("done", "done"), (big_job["error"], small_job["error"])
    assert (big_job["result"]["ingested"], small_job["result"]["ingested"]) == (3, 1)
    assert small_job["updated_at"] < big_job["updated_at"]


def test_leftovers_are_removed_when_the_runner_starts(workspace, runner):
    stale_part = _upload(workspace, "killed.md.part", "half an upload", age_s=3600)
    fresh_part = _upload(workspace, "arriving.md.part", "an upload in progress")
    failed = _upload(workspace, "failed.md", "", age_s=3600)  # its job failed: no document names it
    queued = _upload(workspace, "queued.md", "# Queued\n\nWaiting for its turn.\n", age_s=3600)
    stored = _upload(workspace, "stored.md", "# Stored\n\nA document.\n", age_s=3600)
    just_renamed = _upload(workspace, "renamed.md", "# Renamed\n\nIts job is being added.\n")
    empty = stale_part.parent.parent / ("c" * 16)
    empty.mkdir()
    os.utime(empty, (time.time() - 3600,) * 2)
    assert workspace.ingest([stored]).ingested == 1
    moved = _upload(workspace, "moved.md", "# Moved\n\nIngested before the data dir moved.\n", age_s=3600)
    before_move = f"/srv/old-data/uploads/{'a' * 16}/{'b' * 16}/moved.md"
    assert workspace.ingest_records([TextRecord(id="d_moved", text="Moved.", source=before_move)]).ingested == 1
    _job(workspace, "j_queued", [queued])
    r = runner()
    r._sweep_uploads()  # what start() does first
    r._claim()
    assert not stale_part.exists() and not failed.exists() and not empty.exists()
    assert fresh_part.exists() and queued.exists() and stored.exists() and just_renamed.exists()
    assert moved.exists()  # a moved data dir keeps its uploads


def test_files_of_a_failed_job_are_removed_after_it(workspace, runner):
    good = _upload(workspace, "good.md", "# Good\n\nReadable text.\n")
    empty = _upload(workspace, "empty.md", "   \n")
    shared = _upload(workspace, "shared.md", "")  # also named by a job still queued
    reuploaded = _upload(workspace, "again.md", "")
    time.sleep(0.01)
    job = _job(workspace, "j_mixed", [good, empty, shared, reuploaded])
    _job(workspace, "j_later", [shared])
    later = time.time() + 5  # written again after j_mixed was queued: a new upload, about to be queued
    os.utime(reuploaded, (later, later))
    r = runner()
    r._claim()
    turn = r._turns.pop("j_later")  # stays queued while j_mixed runs
    while job in r._turns:
        r._step(r._turns[job])
    result = workspace.store.get_job(job)
    assert result["status"] == "done" and "file is empty" in result["error"]
    assert good.exists() and shared.exists() and reuploaded.exists() and not empty.exists()
    r._turns[turn.job_id] = turn
    r._step(turn)
    assert workspace.store.get_job("j_later")["status"] == "failed" and not shared.exists()


def test_a_job_that_fails_as_a_whole_leaves_no_files(workspace, runner):
    lone = _upload(workspace, "lone.md", "# Lone\n\nText.\n")
    job = _job(workspace, "j_broken", [lone])
    workspace.ingest = lambda paths, **kw: (_ for _ in ()).throw(OSError("disk gone"))
    r = runner()
    r._claim()
    r._step(r._turns[job])
    assert workspace.store.get_job(job)["error"] == "OSError: disk gone" and not lone.exists()


def test_two_runners_on_one_store_run_each_job_exactly_once(workspace, runner):
    """Two runners (two processes, as far as the store knows) share the queue through leases:
    every file of every job is ingested by one runner only, and both take part."""
    jobs = [
        _job(
            workspace,
            f"j_{i}",
            [_upload(workspace, f"d{i}_{n}.md", f"# Doc {i}.{n}\n\nText {i} {n}.\n") for n in (0, 1)],
        )
        for i in range(6)
    ]
    ran: dict[str, set[int]] = {}
    lock = threading.Lock()
    ingest = workspace.ingest

    def recorded(paths, **kw):
        with lock:
            for p in paths:
                ran.setdefault(Path(p).name.split("_")[0], set()).add(threading.get_ident())
        time.sleep(0.05)  # long enough for the other runner to claim meanwhile
        return ingest(paths, **kw)

    workspace.ingest = recorded
    first, second = runner(), runner()
    first.MAX_HELD = second.MAX_HELD = 2
    first.start()
    second.start()
    done = _wait_done(workspace, *jobs)
    assert [j["status"] for j in done] == ["done"] * 6 and all(j["result"]["ingested"] == 2 for j in done)
    assert all(len(threads) == 1 for threads in ran.values()), ran  # one runner per job
    assert {t for threads in ran.values() for t in threads} == {first._thread.ident, second._thread.ident}


def test_a_job_whose_holder_died_is_taken_over_after_its_lease(workspace, runner):
    """A holder killed outright stops renewing: the job waits out the lease, then another runs it."""
    job = _job(workspace, "j_orphaned", [_upload(workspace, "o.md", "# Orphaned\n\nIts runner died.\n")])
    claimed = workspace.store.claim_job("dead-host/1/0", lease_s=1.5)
    assert claimed["job_id"] == job
    started = time.time()
    r = runner()
    r.lease_s = 1.5
    r.start()
    (result,) = _wait_done(workspace, job, timeout=30)
    assert result["status"] == "done" and result["result"]["ingested"] == 1
    assert result["updated_at"] - started >= 1.0  # not before the dead holder's lease ran out


def test_a_runner_that_lost_its_lease_does_not_finish_the_job(workspace, runner):
    """A database outage longer than the lease: another process took the job meanwhile. The old
    holder's last step must not mark it done as well (its new holder finishes it, once)."""
    job = _job(workspace, "j_stolen", [_upload(workspace, "s.md", "# Stolen\n\nTaken over.\n")])
    r = runner()
    r._claim()
    workspace.store.release_job(job, r.worker_id)  # as if its lease had run out
    assert workspace.store.claim_job("other-host/2/0", lease_s=30)["job_id"] == job
    r._step(r._turns[job])
    assert job not in r._turns and workspace.store.get_job(job)["status"] == "running"


def test_a_stopping_runner_releases_its_jobs(workspace, runner):
    job = _job(workspace, "j_released", [_upload(workspace, "r.md", "# Released\n\nGiven back.\n")])
    r = runner()
    r._claim()
    assert workspace.store.claim_job("other-host/3/0") is None  # leased
    r._release_all()
    assert workspace.store.claim_job("other-host/3/0")["job_id"] == job  # at once, not a lease later
