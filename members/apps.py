from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import config.checks  # noqa: F401  (registers the key checks)
        from members import roles

        # Roles are created by migration 0002; permissions of apps that migrate later are attached
        # here, after every migration, so a role never silently lacks a permission it is meant to have.
        post_migrate.connect(roles.sync_after_migrate, sender=self)
