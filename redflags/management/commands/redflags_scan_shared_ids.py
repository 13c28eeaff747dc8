"""``manage.py redflags_scan_shared_ids``: Red Flag B5 for members loaded without an opening (the CIS import).

Run it after ``import_members``: accounts loaded from the legacy system were never scored at opening,
so members sharing an SSN/TIN would otherwise never reach the review queue. Safe to re-run.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from members.models import Member
from redflags.services.tax_id_scan import shared_tax_id_scan


class Command(BaseCommand):
    help = (
        "Queue Red Flag B5 (SSN/TIN shared with another member) for members who share one; prints counts, never values."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--member-number-prefix",
            default="",
            help="Report only members whose member number starts with this (matching is always against every member).",
        )

    def handle(self, *args, member_number_prefix: str, **options):
        member_ids = None
        if member_number_prefix:
            member_ids = list(
                Member.objects.filter(member_number__startswith=member_number_prefix).values_list("pk", flat=True)
            )
        label = f"command:redflags_scan_shared_ids{':' + member_number_prefix if member_number_prefix else ''}"
        counts = shared_tax_id_scan(member_ids=member_ids, actor_label=label)
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['members_checked']} members checked: {counts['groups_found']} groups sharing an SSN/TIN "
                f"({counts['members_in_groups']} members); {counts['members_flagged']} members flagged for review, "
                f"{counts['members_already_flagged']} already flagged; {counts['seconds']}s"
            )
        )
