"""Every backend is the whole contract (store/contract/): each protocol's members are there, and
the job queue's leases too (claim_job, renew_job, release_job: not in JobStore yet)."""

from __future__ import annotations

import pytest

from ragwright.store import contract

PROTOCOLS = [getattr(contract, name) for name in contract.__all__ if name.endswith("Store")]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_a_store_is_every_protocol_of_the_contract(store, protocol):
    assert isinstance(store, protocol)


def test_a_store_leases_jobs(store):
    assert all(callable(getattr(store, name, None)) for name in ("claim_job", "renew_job", "release_job"))
