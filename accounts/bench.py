"""Registry benchmarks: the CIS import, key rotation and the admin member list.

One data set serves all three (import it, rotate it, list it), then it is removed again. Audit rows they
write stay: the trail is append-only by design. Here rather than in members because the import loads
accounts, premises and meters too.
"""

from __future__ import annotations

import io
import os
import statistics
import time

from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from accounts.cis_import import IMPORTED_TABLES, analyze_imported_tables, default_workers, import_members
from accounts.cis_import.synthetic import synthetic_csv
from accounts.cis_migrate.bench import bench_migration
from members import bench_floors, crypto, identifiers, roles
from members.bench import percentile, staff_client
from members.models import User
from members.rotation import keys_rotate

_BENCH_PREFIX = "B"


def _numbers(kind: str = "") -> str:
    """The benchmark's own numbers, exactly (``synthetic_row``: prefix, "B", eight digits): a bare ``LIKE
    'PB%'`` also took the portal benchmark's premises (``PBP0000001``), whose accounts then refused the
    clean-up and whose tokens would have counted in the import's floor."""
    return f"^{kind}{_BENCH_PREFIX}[0-9]{{8}}$"


def _registry_cleanup() -> None:
    members = _numbers()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_meter WHERE meter_number ~ %s", [_numbers("MTR")])
        cursor.execute("DELETE FROM accounts_account WHERE account_number ~ %s", [_numbers("A")])
        cursor.execute("DELETE FROM accounts_premise WHERE premise_number ~ %s", [_numbers("P")])
        cursor.execute(
            "DELETE FROM members_financialaccount WHERE member_id IN "
            "(SELECT id FROM members_member WHERE member_number ~ %s)",
            [members],
        )
        cursor.execute("DELETE FROM members_member WHERE member_number ~ %s", [members])
    # Leave no dead rows behind for the next run (a server without autovacuum would keep them forever).
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {', '.join(IMPORTED_TABLES)}")


def bench_registry(quick: bool = False) -> dict[str, float]:
    """``REGISTRY_BENCH_MEMBERS`` sets the scale (a 20,000-member reading takes a minute or two under load).
    ``BENCH_REGISTRY_KEEP=1`` leaves the imported members in place afterwards; ``BENCH_REGISTRY_ONLY=search``
    then times only the member search (and list) against them, without importing or rotating again
    (for working on the search: an import of 100,000 takes minutes). Unset, the run is the whole one."""
    count = int(os.environ.get("REGISTRY_BENCH_MEMBERS") or (5_000 if quick else 100_000))
    if os.environ.get("BENCH_REGISTRY_ONLY") == "search":
        return _search_only(count)
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
        tokens = _stored_tokens()
        crypto_s, copy_s, unindexed_copy_s = _import_floor_seconds(tokens, workers)
        floor = crypto_s + copy_s
        results["registry.import_floor_s"] = floor
        results["registry.import_floor_crypto_s"] = crypto_s
        results["registry.import_floor_copy_s"] = copy_s
        results["registry.import_s"] = elapsed
        results["registry.import_vs_floor"] = bench_floors.ratio(floor, elapsed)
        # The floor before 2026-11-30 (COPY into unindexed copies), kept beside it for comparison.
        results["registry.import_floor_unindexed_copy_s"] = unindexed_copy_s
        results["registry.import_vs_unindexed_floor"] = bench_floors.ratio(crypto_s + unindexed_copy_s, elapsed)

        # Re-encrypt under the current newest key (same work as a rotation to a new key, and it leaves
        # every other row of the database readable with the configured keys).
        rotation = keys_rotate(batch_size=5_000, rotate_indexes=False, actor_label="bench")
        results["registry.rotate_values_per_s"] = rotation.values_reencrypted / rotation.seconds
        # The textbook alternative over the same number of tokens, with as many processes.
        sample = tokens[: rotation.values_reencrypted]
        textbook = bench_floors.multifernet_rotate_seconds(
            crypto.derived_fernet_keys(),
            sample,
            processes=rotation.workers if hasattr(rotation, "workers") else workers,
        )
        results["registry.rotate_multifernet_values_per_s"] = len(sample) / textbook
        results["registry.rotate_vs_multifernet"] = (rotation.values_reencrypted / rotation.seconds) / (
            len(sample) / textbook
        )

        results.update(_list_and_search_timings(quick))
    finally:
        if os.environ.get("BENCH_REGISTRY_KEEP") != "1":
            _registry_cleanup()
    return results


def _search_only(count: int) -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM members_member WHERE member_number ~ %s", [_numbers()])
        loaded = cursor.fetchone()[0]
    if loaded != count:
        raise RuntimeError(
            f"BENCH_REGISTRY_ONLY=search needs the {count} benchmark members in place (found {loaded}): "
            "run once with BENCH_REGISTRY_KEEP=1 first"
        )
    return _list_and_search_timings(count < 100_000)


# Tables the import writes (parents before children), with the clause that picks the benchmark's rows
# (its members' prefix).
_IMPORTED_ROWS = (
    ("members_member", "member_number ~ %s"),
    ("members_financialaccount", "member_id IN (SELECT id FROM members_member WHERE member_number ~ %s)"),
    ("accounts_premise", "premise_number ~ %s"),
    ("accounts_meter", "meter_number ~ %s"),
    ("accounts_account", "account_number ~ %s"),
)
_PATTERNS = {
    "members_member": _numbers(),
    "members_financialaccount": _numbers(),
    "accounts_premise": _numbers("P"),
    "accounts_meter": _numbers("MTR"),
    "accounts_account": _numbers("A"),
}


def _stored_tokens() -> list[bytes]:
    """Every ciphertext the import stored (members, bank accounts, premises), as stored."""
    tokens: list[bytes] = []
    for model, table in (
        ("members.Member", "members_member"),
        ("members.FinancialAccount", "members_financialaccount"),
        ("accounts.Premise", "accounts_premise"),
    ):
        where = dict(_IMPORTED_ROWS)[table]
        for column in identifiers.encrypted_names(model):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {column} FROM {table} WHERE {where} AND {column} IS NOT NULL",  # noqa: S608 - declared names
                    [_PATTERNS[table]],
                )
                tokens.extend(bench_floors.as_token(row[0]) for row in cursor.fetchall())
    return tokens


def _import_floor_seconds(tokens: list[bytes], workers: int) -> tuple[float, float, float]:
    """What the import's primitives cost on the same values: Fernet-encrypt each stored value's plaintext
    (decrypted here, untimed), one HMAC-SHA256 per non-empty blind index (crypto with as many processes
    as the import used), and a bare COPY of the finished rows of every table the import writes into
    tables with the same indexes and constraints (``bench_floors.copy_into_indexed_seconds``). Returns
    (crypto seconds, that COPY's seconds, a COPY into unindexed temporary copies: the floor until
    2026-11-30, reported beside it)."""
    keyring = crypto.fernet()
    plaintexts = [keyring.decrypt(token) for token in tokens]
    index_inputs = []
    for table, where in _IMPORTED_ROWS:
        model = {"members_member": "members.Member", "members_financialaccount": "members.FinancialAccount"}.get(
            table, "accounts.Premise" if table == "accounts_premise" else ""
        )
        for index in identifiers.indexes_of(model) if model else ():
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE {where} AND {index.column} <> ''",  # noqa: S608 - declared names
                    [_PATTERNS[table]],
                )
                index_inputs.extend([b"canonical text of about forty bytes....."] * cursor.fetchone()[0])
    crypto_s = bench_floors.fernet_encrypt_seconds(crypto.primary_fernet_key(), plaintexts, processes=workers)
    crypto_s += bench_floors.hmac_seconds(b"k" * 32, index_inputs, processes=workers)
    unindexed = sum(bench_floors.copy_seconds(table, where, [_PATTERNS[table]]) for table, where in _IMPORTED_ROWS)
    indexed = bench_floors.copy_into_indexed_seconds(
        [(table, where, [_PATTERNS[table]]) for table, where in _IMPORTED_ROWS]  # parents first
    )
    return crypto_s, indexed, unindexed


# What staff type (issue 15): a common surname (1 in 12 members), "Last, First", phones in two formats,
# part of a member number, street words. Each through the admin list, as the CSR sees it.
_SEARCH_TERMS = ("Whitfield", "okafor, jordan", "(217) 555-0042", "555-0042", "00012", "1001 main", "riley hale 87")


def _list_and_search_timings(quick: bool) -> dict[str, float]:
    """The admin member list, then the staff search, as a CSR with both factors."""
    user, created = User.objects.get_or_create(username="bench-csr", defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=roles.CSR))
    client = staff_client(user)
    timings = []
    for _ in range(20 if quick else 100):
        started = time.perf_counter()
        response = client.get("/admin/members/member/")
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"admin member list answered {response.status_code}")
    results = {
        "registry.admin_member_list_ms_p95": percentile(timings, 95),
        "registry.admin_member_list_ms_p50": statistics.median(timings),
    }
    results.update(_search_timings(client, 20 if quick else 200))
    return results


def _search_timings(client: Client, rounds: int) -> dict[str, float]:
    timings = []
    for index in range(rounds):
        term = _SEARCH_TERMS[index % len(_SEARCH_TERMS)]
        started = time.perf_counter()
        response = client.get("/admin/members/member/", {"q": term})
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or b"No member matched" in response.content:
            raise RuntimeError(f"member search for a bench term answered {response.status_code} with no result")
    return {
        "registry.member_search_ms_p95": percentile(timings, 95),
        "registry.member_search_ms_p50": statistics.median(timings),
    }


BENCHMARKS = [bench_registry, bench_migration]
