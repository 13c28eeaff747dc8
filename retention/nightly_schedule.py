"""The nightly purge's database schedule (django-celery-beat), shared by migration 0003 and the
post_migrate ensure in retention/apps.py: created once at 02:30 in TIME_ZONE, never overwritten."""

from django.conf import settings


def nightly_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.get_or_create(
        name="retention-nightly",
        defaults={
            "task": "retention.run_due_purges",
            "crontab": crontab,
            "description": "Nightly retention purge (approved policies only). Time in the co-op's time zone.",
        },
    )
