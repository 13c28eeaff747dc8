"""Platform benchmarks: audit-trail write throughput and /healthz latency."""

from __future__ import annotations

import statistics
import time

from django.db import transaction
from django.test import Client

from members.audit import audit_record


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_audit_writes(quick: bool = False) -> dict[str, float]:
    count = 2_000 if quick else 20_000
    started = time.perf_counter()
    # One transaction per 100 changes, as a busy service layer would commit them.
    for batch in range(count // 100):
        with transaction.atomic():
            for index in range(100):
                audit_record(
                    actor=None,
                    actor_label="bench",
                    action="bench.write",
                    object_type="bench",
                    object_id=batch * 100 + index,
                    fields=["x"],
                )
    elapsed = time.perf_counter() - started
    return {"platform.audit_writes_per_s": count / elapsed}


def bench_healthz(quick: bool = False) -> dict[str, float]:
    from config.health import heartbeat

    heartbeat()  # measure the healthy path, as a load balancer sees it with a worker running
    client = Client()
    timings = []
    for _ in range(50 if quick else 300):
        started = time.perf_counter()
        client.get("/healthz")
        timings.append((time.perf_counter() - started) * 1000)
    return {"platform.healthz_ms_p50": statistics.median(timings), "platform.healthz_ms_p95": _p(timings, 95)}


BENCHMARKS = [bench_audit_writes, bench_healthz]


# --- Registry benchmarks -----------------------------------------------------------------------------
# One data set serves all three (import it, rotate it, list it), then it is removed again. Audit rows
# they write stay: the trail is append-only by design.

_BENCH_PREFIX = "B"


def _registry_cleanup() -> None:
    from django.db import connection

    like = f"{_BENCH_PREFIX}%"
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_meter WHERE meter_number LIKE %s", [f"MTR{like}"])
        cursor.execute("DELETE FROM accounts_account WHERE account_number LIKE %s", [f"A{like}"])
        cursor.execute("DELETE FROM accounts_premise WHERE premise_number LIKE %s", [f"P{like}"])
        cursor.execute(
            "DELETE FROM members_financialaccount WHERE member_id IN "
            "(SELECT id FROM members_member WHERE member_number LIKE %s)",
            [like],
        )
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE %s", [like])
    # Leave no dead rows behind for the next run (a server without autovacuum would keep them forever).
    from members.importing import IMPORTED_TABLES

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(IMPORTED_TABLES)}")


def bench_registry(quick: bool = False) -> dict[str, float]:
    import io

    from django.contrib.auth.models import Group

    from members import roles
    from members.importing import analyze_imported_tables, default_workers, import_members
    from members.legacy_csv import synthetic_csv
    from members.models import User
    from members.rotation import keys_rotate

    count = 5_000 if quick else 100_000
    _registry_cleanup()
    results: dict[str, float] = {}
    try:
        text = synthetic_csv(count, prefix=_BENCH_PREFIX)
        started = time.perf_counter()
        # As `manage.py import_members` runs it: one loading process per core (the parent validates).
        workers = default_workers()
        report = import_members(io.StringIO(text), batch_size=5_000, actor_label="bench", workers=workers)
        elapsed = time.perf_counter() - started
        if report.members_loaded != count:
            raise RuntimeError(f"import benchmark loaded {report.members_loaded} of {count}: {report.errors[:3]}")
        results["registry.import_members_per_s"] = count / elapsed
        results["registry.import_workers"] = workers
        analyze_imported_tables()  # as the import command does after a load

        # Re-encrypt under the current newest key (same work as a rotation to a new key, and it leaves
        # every other row of the database readable with the configured keys).
        rotation = keys_rotate(batch_size=5_000, rotate_indexes=False, actor_label="bench")
        results["registry.rotate_values_per_s"] = rotation.values_reencrypted / rotation.seconds

        user, created = User.objects.get_or_create(username="bench-csr", defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=roles.CSR))
        client = Client()
        client.force_login(user)
        timings = []
        for _ in range(20 if quick else 100):
            started = time.perf_counter()
            response = client.get("/admin/members/member/")
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"admin member list answered {response.status_code}")
        results["registry.admin_member_list_ms_p95"] = _p(timings, 95)
        results["registry.admin_member_list_ms_p50"] = statistics.median(timings)
    finally:
        _registry_cleanup()
    return results


BENCHMARKS.append(bench_registry)
