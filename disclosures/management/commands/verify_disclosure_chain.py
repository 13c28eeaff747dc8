"""Verify the disclosure log's and the audit trail's hash chains (each against its anchored head); exit
status 1 when either is broken.

    manage.py verify_disclosure_chain [--expect-head SEQ:HASH]

Run it from cron / the scheduler and keep the printed head somewhere the database's administrators
cannot write (a ticket, the board packet): ``--expect-head`` with an earlier head then also detects a
chain rewritten by someone who had the key.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from disclosures.chain import verify_chain
from disclosures.services import chain_verification_record
from members.audit import verify_audit_chain


class Command(BaseCommand):
    help = "Verify the disclosure log's keyed hash chain (deleted, altered, reordered entries)."

    def add_arguments(self, parser):
        parser.add_argument("--expect-head", default="", help="SEQ:HASH of a head recorded earlier")
        parser.add_argument(
            "--record",
            action="store_true",
            help="check against the head anchored on the audit trail by the last run, then anchor the current head",
        )

    def handle(self, *args, **options):
        expect = None
        if options["expect_head"]:
            try:
                seq, hash_ = options["expect_head"].split(":", 1)
                expect = (int(seq), hash_.strip())
            except ValueError:
                raise CommandError("--expect-head takes SEQ:HASH") from None
        started = time.perf_counter()
        if options["record"]:
            report = chain_verification_record(actor_label="command:verify_disclosure_chain")
        else:
            report = verify_chain(expect_head=expect)
        elapsed = time.perf_counter() - started
        for problem in report.problems:
            self.stderr.write(f"BROKEN: {problem}")
        self.stdout.write(f"entries={report.entries} head={report.head_seq}:{report.head_hash} seconds={elapsed:.2f}")
        audit = verify_audit_chain()
        for problem in audit.problems:
            self.stderr.write(f"BROKEN (audit trail): {problem}")
        self.stdout.write(f"audit trail entries={audit.entries} head={audit.head_seq}:{audit.head_hash}")
        if not report.ok:
            raise CommandError(f"the disclosure log chain is broken ({len(report.problems)} problem(s) shown)")
        if not audit.ok:
            raise CommandError(f"the audit trail chain is broken ({len(audit.problems)} problem(s) shown)")
        self.stdout.write(self.style.SUCCESS("disclosure log chain intact; audit trail chain intact"))
