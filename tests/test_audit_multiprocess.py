"""Several server processes on one PostgreSQL append into one gap-free log."""

from __future__ import annotations

import threading

import pytest

from dpa_client.audit import LogVerifier
from registry import db, keys
from registry.audit import export, store
from registry.config import Config
from tests import harness

pytestmark = pytest.mark.skipif(not harness.postgres_url(), reason=f"{harness.PG_ENV} not set")


def test_two_processes_write_one_contiguous_log(dev_pki) -> None:  # type: ignore[no-untyped-def]
    with harness.postgres_schema() as url:
        a = harness.ServerProcess(dev_pki, url)
        b = harness.ServerProcess(dev_pki, url)
        errors: list[BaseException] = []
        per_thread = 15

        def write(server: harness.ServerProcess, tag: str) -> None:
            client = server.client("staff", "admin")
            try:
                for i in range(per_thread):
                    client.create_controller(
                        f"{tag}-{i}",
                        legal_name=f"{tag} {i}",
                        country="EE",
                        contact_email=f"p@{tag}.example",
                        dpo_email=f"d@{tag}.example",
                    )
            except BaseException as err:
                errors.append(err)
            finally:
                client.close()

        threads = [
            threading.Thread(target=write, args=(server, f"{name}{t}"))
            for name, server in (("a", a), ("b", b))
            for t in range(3)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stderr = a.stop() + b.stop()
        assert not errors, errors
        assert "Traceback" not in stderr, stderr

        db.open_database(url)
        seqs = [
            r.seq
            for r in store.AuditEvent.select(store.AuditEvent.seq).order_by(store.AuditEvent.seq)
        ]
        # one key-init entry, then every controller created by either process
        assert seqs == list(range(1 + 6 * per_thread))
        assert store.size() == len(seqs)
        keys.activate(keys.load(dev_pki.signing_key, Config().log_origin))
        from registry.audit import log

        log.latest_checkpoint()
        vkey = keys.active().vkey
        report = LogVerifier([vkey]).verify_export(export.build())
        assert report.entries_verified == len(seqs)
        db.database.close()
