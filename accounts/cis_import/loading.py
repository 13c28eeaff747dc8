"""Loading validated rows, a batch at a time: each batch one transaction of bulk COPY inserts.

The member's values are encrypted for the whole batch in one call (members.fernet_bulk) and indexed
with the bulk fast path (``crypto.canonical_indexer``: every value was cleaned already, so it is in
canonical form); which encrypted columns and blind indexes a table has comes from members/identifiers.py
through the tables' own bulk-load functions (members.bulk_load, accounts.bulk_load), which hold their
SQL. A re-run is safe: members, accounts, premises and meters whose numbers exist are skipped.

Accounts in the file were opened in the legacy system, so they are loaded with their status and no
``account_opening`` signal; each batch writes one ``member.imported`` audit row naming its member-number
range (nothing when it loaded nothing).

With ``workers`` > 1 each batch is loaded in a forked child process (members.worker_pool) with its own
connection and transaction, while the importing process goes on reading and validating the file: on two
cores the import's Python work and PostgreSQL's then overlap instead of taking turns. Only the counts
come back. Batches are independent transactions either way: a failure leaves whole batches loaded or
not, and a re-run skips what is there.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts import bulk_load as accounts_bulk
from accounts.cis_import.cleaning import BANK_FIELDS, CleanRow, ImportReport
from members import bulk_load as members_bulk
from members import crypto, identifiers, worker_pool
from members.audit import audit_record
from members.bulk_load import DeclaredColumns
from members.fernet_bulk import encrypt_many
from members.identifiers import BlindIndex, Combine
from members.models import Member
from members.services import name_search_form
from members.worker_pool import Channel, ForkPool

_MAILING = identifiers.index_named("members.Member", "address_index").sources
_SERVICE = identifiers.index_named("accounts.Premise", "address_index").sources
_APPLICANT = str(Member.Status.APPLICANT)


class BatchFailed(RuntimeError):
    """A batch loaded in a worker process failed; its transaction was rolled back."""


def _first(sources: tuple[str, ...]) -> Callable[[Callable], Any]:
    def first(get: Callable) -> Any:
        for source in sources:
            value = get(source)
            if value:
                return value
        return None

    return first


def _all_of(sources: tuple[str, ...], required: tuple[str, ...], join: Callable) -> Callable[[Callable], Any]:
    def all_of(get: Callable) -> Any:
        for source in required:
            if not get(source):
                return None
        return join([get(source) or "" for source in sources])

    return all_of


def _text_of(ix: BlindIndex) -> Callable[[Callable], Any]:
    """``text(values.get)``: the canonical text ``ix`` indexes (``BlindIndex.value_in`` and
    ``crypto.cleaned_canonical``, compiled for one index), or ``None``."""
    join = partial(crypto.cleaned_canonical, ix.kind)
    source = ix.sources[0]
    if ix.combine is Combine.ONE:
        return lambda get: get(source)
    if ix.combine is Combine.FIRST:
        return _first(ix.sources)
    if ix.combine is Combine.SPLIT:
        return lambda get: join(stored.split("|")) if (stored := get(source)) else None
    return _all_of(ix.sources, ix.required, join)


def _index_column(index: Callable[[str], str], text_of: Callable[[Callable], Any]) -> Callable[[Callable], str]:
    return lambda get: index(text) if (text := text_of(get)) else ""


def _one_source_column(index: Callable[[str], str], source: str) -> Callable[[Callable], str]:
    return lambda get: index(text) if (text := get(source)) else ""


def _last_four_column(first: Callable[[Callable], Any]) -> Callable[[Callable], str]:
    return lambda get: (first(get) or "")[-4:]


class _Derived:
    """The computed columns of a table's declared fields (``members.bulk_load.DeclaredColumns.computed``:
    its blind indexes, from cleaned values with the bulk fast path, then its last-four columns). ``of``
    runs for every row loaded, so each column is compiled once into a small function of ``values.get``."""

    def __init__(self, declared: DeclaredColumns, indexer: crypto.CanonicalIndexer):
        indexes = {ix.column: ix for ix in identifiers.indexes_of(declared.model)}
        fields = identifiers.fields_of(declared.model)
        functions = []
        for column in declared.computed:
            if column in indexes and indexes[column].combine is Combine.ONE:  # the common case, one call less
                functions.append(_one_source_column(indexer.for_kind(indexes[column].kind), indexes[column].sources[0]))
            elif column in indexes:
                ix = indexes[column]
                functions.append(_index_column(indexer.for_kind(ix.kind), _text_of(ix)))
            else:
                sources = tuple(field.name for field in fields if field.last_four == column)
                functions.append(_last_four_column(_first(sources)))
        self.functions = tuple(functions)

    def of(self, values: dict[str, Any]) -> list[str]:
        """The computed columns' values, in order, from plaintext cleaned values by field name."""
        get = values.get
        return [function(get) for function in self.functions]


def _encrypt(rows: list[CleanRow]) -> list[tuple[dict[str, str], dict[str, str], dict[str, str]]]:
    """Every encrypted value of the batch in one ``encrypt_many`` call: per row, the tokens of the
    member's, the bank account's and the premise's values, by field name."""
    plaintexts: list[bytes] = []
    for row in rows:
        plaintexts.extend(value.encode() for value in row.secrets.values())
        if row.bank:
            plaintexts.extend(value.encode() for value in row.bank)
        plaintexts.extend(value.encode() for value in row.premise_secrets.values())
    tokens = iter([token.decode("ascii") for token in encrypt_many(crypto.primary_fernet_key(), plaintexts)])
    return [
        (
            {name: next(tokens) for name in row.secrets},
            {name: next(tokens) for name in BANK_FIELDS} if row.bank else {},
            {name: next(tokens) for name in row.premise_secrets},
        )
        for row in rows
    ]


def _load_batch(rows: list[CleanRow], report: ImportReport, *, actor_label: str, batch_number: int) -> None:
    # Timestamps and dates go into the COPY as text, formatted once rather than by str() per cell.
    started = timezone.now()
    now, today = started.isoformat(), started.date()
    index = crypto.canonical_indexer()  # every value reaching here was cleaned, i.e. is canonical already
    with transaction.atomic(), connection.cursor() as cursor:
        present = members_bulk.member_ids(cursor, [row.member["member_number"] for row in rows])
        fresh = [row for row in rows if row.member["member_number"] not in present]
        report.members_already_present += len(rows) - len(fresh)
        tokens = _encrypt(fresh)
        members_bulk.members_insert(
            cursor, _member_rows(fresh, tokens, _Derived(members_bulk.MEMBER_DECLARED, index), now)
        )
        ids = members_bulk.member_ids(cursor, [row.member["member_number"] for row in fresh])
        report.members_loaded += len(fresh)
        report.member_ids.extend(ids.values())
        banks = [(row, row_tokens[1]) for row, row_tokens in zip(fresh, tokens, strict=True) if row.bank]
        if banks:
            derived = _Derived(members_bulk.FINANCIAL_DECLARED, index)
            members_bulk.financial_accounts_insert(cursor, _bank_rows(banks, ids, derived, now))
            report.bank_accounts_loaded += len(banks)
        served = [(row, row_tokens[2]) for row, row_tokens in zip(fresh, tokens, strict=True) if row.premise]
        if served:
            derived = _Derived(accounts_bulk.PREMISE_DECLARED, index)
            _load_accounts(cursor, served, ids, derived, report, now=now, today=today)
        report.batches += 1
        if fresh:  # a re-run of rows already loaded changes nothing, so it leaves no audit row either
            _audit(fresh, len(rows), actor_label=actor_label, batch_number=batch_number)


def _member_rows(rows: list[CleanRow], tokens: list, derived: _Derived, now: str) -> list[list]:
    built = []
    for row, (member_tokens, _, _) in zip(rows, tokens, strict=True):
        m = row.member
        values = dict(zip(_MAILING, m["address"], strict=True))
        values.update(m)
        values.update(row.secrets)
        computed = derived.of(values)
        values.update(member_tokens)  # the row gets the tokens, never the plaintext
        joined_on = m["joined_on"].isoformat() if m["joined_on"] else None
        member_row = members_bulk.member_row(
            member_number=m["member_number"],
            kind=m["kind"],
            legal_name=m["legal_name"],
            name_search=name_search_form(m["legal_name"]),
            status=m["status"],
            applied_on=joined_on,
            joined_on=joined_on if m["status"] != _APPLICANT else None,
            employer_name=m["employer_name"],
            now=now,
            values=values,
            computed=computed,
        )
        built.append(member_row)
    return built


def _bank_rows(banks: list, ids: dict[str, int], derived: _Derived, now: str) -> list[list]:
    built = []
    for row, bank_tokens in banks:
        bank_row = members_bulk.bank_account_row(
            member_id=ids[row.member["member_number"]],
            now=now,
            values=bank_tokens,
            computed=derived.of(dict(zip(BANK_FIELDS, row.bank, strict=True))),
        )
        built.append(bank_row)
    return built


def _load_accounts(
    cursor, served: list, ids: dict[str, int], derived: _Derived, report: ImportReport, *, now: str, today
) -> None:
    """The premises (new ones only: members of several rows may share one), accounts and meters."""
    new_premises, seen = [], set()
    for row, premise_tokens in served:
        number = row.premise["premise_number"]
        if number in seen:
            continue
        seen.add(number)
        plain = dict(zip(_SERVICE, row.premise["address"], strict=True))
        new_premises.append(
            accounts_bulk.premise_row(
                premise_number=number,
                dog_warning=row.premise["dog_warning"],
                now=now,
                values={**plain, **premise_tokens},
                computed=derived.of(plain),
            )
        )
    premise_ids = accounts_bulk.premises_insert_new(cursor, new_premises)
    report.premises_loaded += len(premise_ids)
    # Premises that were there already (or that another batch just inserted): look those up only.
    premise_ids.update(accounts_bulk.premise_ids(cursor, [number for number in seen if number not in premise_ids]))
    account_rows = _account_rows(cursor, served, ids, premise_ids, now=now, today=today)
    accounts_bulk.accounts_insert(cursor, account_rows)
    report.accounts_loaded += len(account_rows)
    seen_meters, meter_rows = set(), []
    for row, _ in served:
        meter = row.meter
        if meter is None or meter["meter_number"] in seen_meters:
            continue
        seen_meters.add(meter["meter_number"])
        premise_id = premise_ids[row.premise["premise_number"]]
        meter_rows.append(accounts_bulk.meter_row(premise_id=premise_id, **meter))
    report.meters_loaded += len(accounts_bulk.meters_insert_new(cursor, meter_rows))


def _account_rows(cursor, served: list, ids: dict[str, int], premise_ids: dict[str, int], *, now, today) -> list:
    present = accounts_bulk.account_ids(cursor, [row.account["account_number"] for row, _ in served])
    seen, rows = set(present), []
    for row, _ in served:
        number, status = row.account["account_number"], row.account["status"]
        if number in seen:
            continue
        seen.add(number)
        rows.append(
            accounts_bulk.account_row(
                account_number=number,
                member_id=ids[row.member["member_number"]],
                premise_id=premise_ids[row.premise["premise_number"]],
                status=status,
                status_reason="imported from the legacy CIS",
                opened_at=f"{(row.member['joined_on'] or today).isoformat()} 12:00:00+00:00",
                closed_at=now if status == "closed" else None,
                suspended_at=now if status == "suspended" else None,
                now=now,
            )
        )
    return rows


def _audit(fresh: list[CleanRow], rows: int, *, actor_label: str, batch_number: int) -> None:
    audit_record(
        actor=None,
        actor_label=actor_label,
        action="member.imported",
        object_type="members.member",
        fields=sorted({name for row in fresh for name in row.secrets} | {"member_number", "legal_name"}),
        detail={
            "batch": batch_number,
            "rows": rows,
            "loaded": len(fresh),
            "already_present": rows - len(fresh),
            "first_member_number": fresh[0].member["member_number"],
            "last_member_number": fresh[-1].member["member_number"],
        },
    )


# --- Serial or in worker processes -------------------------------------------------------------------------


def _load_batch_in_child(channel: Channel, batch: list[CleanRow], actor_label: str, batch_number: int) -> None:
    partial = ImportReport()
    _load_batch(batch, partial, actor_label=actor_label, batch_number=batch_number)
    channel.send(partial)


class BatchLoader:
    """Loads each batch in this process and connection (and so inside a caller's transaction), or with
    ``workers`` > 1 and ``worker_pool.parallel_possible()``, in forked children, at most ``workers`` at
    once. ``on_batch(report)`` runs here after each batch."""

    def __init__(self, report: ImportReport, actor_label: str, on_batch, workers: int):
        self.report, self.actor_label, self.on_batch = report, actor_label, on_batch
        self.submitted = 0
        parallel = workers > 1 and worker_pool.parallel_possible()
        self.pool = ForkPool(workers, self._merge) if parallel else None

    def _merge(self, name: str, partial: ImportReport) -> None:
        self.report.merge(partial)
        if self.on_batch:
            self.on_batch(self.report)

    def _check(self) -> None:
        failure = self.pool.failure if self.pool is not None else None
        if failure is None:
            return
        if failure.error is not None:
            raise BatchFailed(f"batch {failure.name}: {failure.error}")
        raise BatchFailed(
            f"batch {failure.name}: the worker process exited with code {failure.exit_code} before reporting"
        )

    def submit(self, batch: list[CleanRow]) -> None:
        self.submitted += 1
        if self.pool is None:
            _load_batch(batch, self.report, actor_label=self.actor_label, batch_number=self.submitted)
            if self.on_batch:
                self.on_batch(self.report)
            return
        self._check()
        self.pool.wait_for_room()
        self._check()
        self.pool.submit(str(self.submitted), _load_batch_in_child, batch, self.actor_label, self.submitted)

    def finish(self) -> None:
        if self.pool is not None:
            self.pool.join()
            self._check()

    def abort(self) -> None:
        # Batches already running finish (each is its own transaction); nothing new starts.
        if self.pool is not None:
            self.pool.close()


# The computed columns of a table's declared fields, for the CIS migration's loaders (accounts.cis_migrate).
Derived = _Derived
