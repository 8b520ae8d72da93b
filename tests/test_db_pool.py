"""A bounded PostgreSQL connection pool per process: callers beyond it wait,
and when no connection frees up in time they get UNAVAILABLE, never INTERNAL;
two processes never hold more than twice the pool (docs/operations.md)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import peewee
import pytest
from playhouse.db_url import connect as connect_url

from dpa_client import errors
from registry import clock, db, pki
from registry.audit import store
from tests import factories, harness

pytestmark = pytest.mark.skipif(not harness.postgres_url(), reason=f"{harness.PG_ENV} not set")


def test_an_exhausted_pool_answers_unavailable_then_recovers(dev_pki: pki.DevPki) -> None:
    with harness.postgres_schema() as url:
        h = harness.start(dev_pki, url, db_pool_size=2, db_pool_timeout=1.0)
        hold, held = threading.Event(), threading.Barrier(3)

        def occupy() -> None:
            db.database.connect()
            try:
                held.wait(timeout=60)
                hold.wait(timeout=60)
            finally:
                db.database.close()

        holders = [threading.Thread(target=occupy) for _ in range(2)]
        try:
            factories.controller(h.staff, "acme")
            for t in holders:
                t.start()
            held.wait(timeout=60)
            patient = h.client("staff", "admin", retries=0, timeout=60.0)
            with pytest.raises(errors.Unavailable) as caught:
                patient.get_controller("acme")
            assert caught.value.message == "database pool exhausted, retry"
            hold.set()
            for t in holders:
                t.join()
            assert patient.get_controller("acme").legal_name == "Acme AS"
        finally:
            hold.set()
            for t in holders:
                if t.is_alive():
                    t.join()
            h.close()
            clock.reset()


POOL = 3
CALLERS_PER_PROCESS = 12
CALLS = 8


def test_more_callers_than_two_pools_allow_get_no_internal(dev_pki: pki.DevPki) -> None:
    app = "dpa-pool-" + uuid.uuid4().hex[:8]
    with harness.postgres_schema() as base:
        url = f"{base}&application_name={app}"
        servers = [
            harness.ServerProcess(dev_pki, url, DPA_DB_POOL_SIZE=str(POOL)) for _ in range(2)
        ]
        counts: Counter[str] = Counter()
        created: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(2 * CALLERS_PER_PROCESS)
        done = threading.Event()
        peak = [0]
        watcher: peewee.Database = connect_url(base)

        def sample() -> None:
            while not done.wait(0.02):
                n = watcher.execute_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
                ).fetchone()[0]
                peak[0] = max(peak[0], int(n))

        def call(server: harness.ServerProcess, tag: str) -> None:
            client = server.client("staff", "admin")
            client.timeout = 120.0
            try:
                start.wait(timeout=120)
                for i in range(CALLS):
                    cid = f"{tag}-{i}"
                    try:
                        if i % 2 == 0:
                            factories.controller(client, cid)
                            with lock:
                                created.append(cid)
                        else:
                            client.get_controller(f"{tag}-{i - 1}")
                            list(client.list_controllers())
                        code = "OK"
                    except errors.RpcError as err:
                        code = err.code_name
                    with lock:
                        counts[code] += 1
            finally:
                client.close()

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [
            threading.Thread(target=call, args=(s, f"p{n}c{t}"))
            for n, s in enumerate(servers)
            for t in range(CALLERS_PER_PROCESS)
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            done.set()
            sampler.join()
            watcher.close()
            stderr = "".join(s.stop() for s in servers)
        assert set(counts) <= {"OK", "UNAVAILABLE"}, counts
        assert counts["OK"] > 0, counts
        assert "Traceback" not in stderr, stderr
        # Never more connections than the two pools hold.
        assert 0 < peak[0] <= 2 * POOL, peak
        db.open_database(base)
        try:
            # One key-activation entry, then one per controller created.
            assert store.size() == 1 + len(created)
        finally:
            db.database.close()
