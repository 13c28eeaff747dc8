from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from members.registry_roles import sync_field_services

        post_migrate.connect(sync_field_services, dispatch_uid="memberguard-field-services")
