from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import config.checks  # noqa: F401  (registers the key checks)
        from members import roles

        # Roles are created by migration 0002; permissions are attached here after migrate. Django
        # creates each app's permissions in post_migrate *for that app*, so the sync listens to every
        # app's post_migrate (it is cheap) rather than only ours, which comes before later apps'.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="memberguard-sync-roles")
