from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        import config.checks  # noqa: F401  (registers the key checks)
        from members import demo, registry_roles, roles

        # Roles are created by migration 0002; permissions are attached here after migrate. Django
        # creates each app's permissions in post_migrate *for that app*, so the sync listens to every
        # app's post_migrate (it is cheap) rather than only ours, which comes before later apps'.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="memberguard-sync-roles")

        registry_roles.grant_registry_permissions()
        from members.demo_registry import seed_registry

        if seed_registry not in demo.DEMO_STEPS:
            # The registry comes first: every later app's demo data hangs off its members.
            demo.DEMO_STEPS.insert(0, seed_registry)
