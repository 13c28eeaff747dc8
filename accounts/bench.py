"""Registry benchmarks: the CIS import, key rotation and the admin member list.

One data set serves all three (import it, rotate it, list it), then it is removed again. Audit rows they
write stay: the trail is append-only by design. Here rather than in members because the import loads
accounts, premises and meters too.
"""

from __future__ import annotations

import io
import statistics
import time

from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from accounts.cis_import import IMPORTED_TABLES, analyze_imported_tables, default_workers, import_members
from accounts.cis_import.synthetic import synthetic_csv
from accounts.cis_migrate.bench import bench_migration
from members import roles
from members.bench import percentile
from members.models import User
from members.rotation import keys_rotate

_BENCH_PREFIX = "B"


def _registry_cleanup() -> None:
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
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(IMPORTED_TABLES)}")


def bench_registry(quick: bool = False) -> dict[str, float]:
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
        results["registry.admin_member_list_ms_p95"] = percentile(timings, 95)
        results["registry.admin_member_list_ms_p50"] = statistics.median(timings)
    finally:
        _registry_cleanup()
    return results


BENCHMARKS = [bench_registry, bench_migration]
