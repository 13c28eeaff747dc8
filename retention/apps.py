from django.apps import AppConfig
from django.db.models.signals import post_migrate

from members import roles


class RetentionConfig(AppConfig):
    name = "retention"

    def ready(self) -> None:
        # Imported here, not at the top: these import models, which need the app registry ready.
        from members.demo import DEMO_STEPS
        from retention import admin_member  # noqa: F401 - registers the holds inline on the member admin
        from retention.handlers import register_builtin
        from retention.services import retention_policy_ensure_defaults

        register_builtin()
        roles.grant(
            roles.PRIVACY_OFFICER,
            "retention.view_retentionpolicy",
            "retention.change_retentionpolicy",
            "retention.run_purge",
            "retention.approve_retention_change",
            "retention.view_purgerun",
            "retention.view_destructioncertificate",
            "retention.view_hold",
            "retention.add_hold",
            "retention.place_hold",
            "retention.view_pendingchange",
            "retention.change_pendingchange",
            "django_celery_beat.view_periodictask",
            "django_celery_beat.change_periodictask",
            "django_celery_beat.view_crontabschedule",
            "django_celery_beat.add_crontabschedule",
            "django_celery_beat.change_crontabschedule",
        )
        read_only = (
            "retention.view_retentionpolicy",
            "retention.view_purgerun",
            "retention.view_destructioncertificate",
            "retention.view_hold",
            "retention.view_pendingchange",
        )
        roles.grant(roles.AUDITOR, *read_only)
        roles.grant(roles.PROGRAM_ADMINISTRATOR, *read_only)

        def seed_retention() -> str:
            retention_policy_ensure_defaults()
            return "retention policies: defaults present"

        DEMO_STEPS.append(seed_retention)
        # The nightly purge's database schedule: created by migration 0003 and again after any flush
        # (a test database, `manage.py flush`), never overwriting the time staff set.
        post_migrate.connect(_ensure_nightly_schedule, dispatch_uid="retention.nightly_schedule")


def _ensure_nightly_schedule(sender, app_config=None, **kwargs) -> None:
    if app_config is None or app_config.label != "retention":
        return
    from django.apps import apps as global_apps

    from retention import nightly_schedule as nightly

    nightly.nightly_schedule(global_apps, None)
