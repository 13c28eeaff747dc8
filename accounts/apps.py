from django.apps import AppConfig
from django.db.models.signals import post_migrate

from members.registry_roles import sync_field_services


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import models, which need the app registry ready.
        from accounts.demo import seed_registry
        from accounts.glance import register_panels
        from members import demo

        register_panels()  # the member's page at a glance (members/glance.py)
        post_migrate.connect(sync_field_services, dispatch_uid="memberguard-field-services")
        if seed_registry not in demo.DEMO_STEPS:
            # The registry comes first: every later app's demo data hangs off its members.
            demo.DEMO_STEPS.insert(0, seed_registry)
