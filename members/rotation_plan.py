"""Key rotation's plan and progress (members.rotation): the batches of a table, and what is done of it.

A batch is a closed id range; ``TableProgress`` is the form ``KeyRotationRun.cursors`` keeps per table
(every id up to a prefix, plus ranges above it that parallel workers finished out of order), from which
a resumed run plans only what is in neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from members.rotation import Target


@dataclass(frozen=True)
class PlannedBatch:
    label: str
    first: int  # the batch is the rows with first <= id <= last
    last: int


class TableProgress:
    """What is done in one table, in the form kept in ``KeyRotationRun.cursors``.

    ``prefix``: every row with ``id <= prefix`` is done (the single cursor of a one-process run).
    ``done``: closed id ranges above ``prefix`` that are done too: batches that parallel workers
    committed out of order. A resumed run plans batches only for the ids in neither.
    """

    def __init__(self, prefix: int, done: list[list[int]] | None = None):
        self.prefix = prefix
        self.done = sorted([int(first), int(last)] for first, last in (done or []) if int(last) > prefix)
        self.pending: set[tuple[int, int]] = set()

    def plan(self, cursor, target: Target, batch_size: int) -> list[PlannedBatch]:
        """Batches of up to ``batch_size`` existing rows each, none spanning a range already done."""
        if not self.done:
            # Nothing done above the prefix (a fresh run, or one stopped between batches): each batch's
            # last id is read from the primary key's index (an index scan skipping ``batch_size - 1``
            # entries), rather than every id coming here to be counted. A batch starts just above the
            # previous one, so together they cover every id above the prefix.
            planned: list[PlannedBatch] = []
            after = self.prefix
            while True:
                cursor.execute(
                    f"SELECT id FROM {target.table} WHERE id > %s ORDER BY id OFFSET %s LIMIT 1",  # noqa: S608
                    [after, batch_size - 1],
                )
                row = cursor.fetchone()
                if row is None:
                    cursor.execute(f"SELECT max(id) FROM {target.table} WHERE id > %s", [after])  # noqa: S608
                    row = cursor.fetchone()
                    if row[0] is not None:
                        planned.append(PlannedBatch(target.label, after + 1, row[0]))
                    break
                planned.append(PlannedBatch(target.label, after + 1, row[0]))
                after = row[0]
            self.pending = {(batch.first, batch.last) for batch in planned}
            return planned
        batches: list[PlannedBatch] = []
        chunk: list[int] = []
        done = iter(self.done)
        skip = next(done, None)
        after = self.prefix
        while True:
            cursor.execute(f"SELECT id FROM {target.table} WHERE id > %s ORDER BY id LIMIT 50000", [after])  # noqa: S608
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            for row_id in ids:
                while skip is not None and skip[1] < row_id:
                    skip = next(done, None)
                if skip is not None and skip[0] <= row_id:
                    if chunk:  # a batch never straddles work already done
                        batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
                        chunk = []
                    continue
                chunk.append(row_id)
                if len(chunk) == batch_size:
                    batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
                    chunk = []
            after = ids[-1]
        if chunk:
            batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
        self.pending = {(batch.first, batch.last) for batch in batches}
        return batches

    def complete(self, first: int, last: int) -> None:
        self.pending.discard((first, last))
        self.done.append([first, last])
        self.done.sort()
        # The prefix moves over done ranges up to the first batch still pending: the plan covered every
        # row above the prefix, so nothing below that batch is left.
        lowest_pending = min((first for first, _ in self.pending), default=None)
        while self.done and (lowest_pending is None or self.done[0][1] < lowest_pending):
            self.prefix = max(self.prefix, self.done.pop(0)[1])
