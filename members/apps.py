from django.apps import AppConfig
from django.db.models.signals import post_migrate

from members import registry_roles, roles, staff_tools


class MembersConfig(AppConfig):
    name = "members"

    def ready(self) -> None:
        # Imported here, not at the top: importing the module registers its system check, which reads
        # the models.
        from members import checks  # noqa: F401

        # Roles are created by migration 0002; permissions are attached here after migrate. Django
        # creates each app's permissions in post_migrate *for that app*, so the sync listens to every
        # app's post_migrate (it is cheap) rather than only ours, which comes before later apps'.
        post_migrate.connect(roles.sync_after_migrate, dispatch_uid="memberguard-sync-roles")
        registry_roles.grant_registry_permissions()
        # The CSR's lookup for a call (members/find.py), first among the staff tools on the admin's index.
        staff_tools.register(
            staff_tools.StaffTool(
                "Find a member",
                "member-find",
                "members.view_member",
                "Name, phone, address, member or account number: the best matches first, masked.",
            )
        )
