"""One owner per period (issue 12): ``Member.retain_until`` goes (members 0007 drops it after this).

- Dates set automatically when a member left (exactly seven years after ``left_on``, 28 February
  for a 29 February departure, as ``member_change_status`` computed them) become nothing: the
  retention schedule alone decides.
- Any other date still in the future was set on purpose: it becomes a hold with the reason
  "migrated retention date" and the old date in the legal reference, for the Privacy Officer to
  review. A date already past protected nothing (the purge skipped only dates not yet reached) and
  becomes nothing.

Also creates the staff-editable nightly purge in django-celery-beat's schedule: 02:30 in the co-op's
time zone (settings.TIME_ZONE), not UTC.
"""

import datetime as dt

from django.conf import settings
from django.db import migrations

from retention import nightly_schedule as nightly

AUTOMATIC_YEARS = 7


def _automatic(left_on: dt.date) -> dt.date:
    if left_on.month == 2 and left_on.day == 29:
        return left_on.replace(year=left_on.year + AUTOMATIC_YEARS, day=28)
    return left_on.replace(year=left_on.year + AUTOMATIC_YEARS)


def becomes_hold(left_on, retain_until: dt.date, today: dt.date) -> bool:
    """An explicit date still to come becomes a hold; an automatic or past date becomes nothing."""
    return not ((left_on is not None and retain_until == _automatic(left_on)) or retain_until < today)


def migrate_dates(apps, schema_editor):
    Member = apps.get_model("members", "Member")
    Hold = apps.get_model("retention", "Hold")
    today = dt.date.today()
    holds = []
    for pk, left_on, retain_until in Member.objects.filter(retain_until__isnull=False).values_list(
        "pk", "left_on", "retain_until"
    ):
        if not becomes_hold(left_on, retain_until, today):
            continue
        holds.append(
            Hold(
                scope="member",
                member_id=pk,
                kind="migrated",
                reason="migrated retention date",
                legal_reference=f"Member.retain_until was {retain_until.isoformat()}",
            )
        )
    Hold.objects.bulk_create(holds, batch_size=1000)
    Member.objects.filter(retain_until__isnull=False).update(retain_until=None)


nightly_schedule = nightly.nightly_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0002_retention_holds_ledger"),
        ("members", "0006_name_search_prefix_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(migrate_dates, migrations.RunPython.noop),
        migrations.RunPython(nightly_schedule, migrations.RunPython.noop),
    ]
