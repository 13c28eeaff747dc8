"""A "Field Services" role for meter readers and field crews.

The platform roles (members/roles.py) have nobody who reads meters, yet the Privacy Policy keeps
meter-reading information (a dog in the yard, a gate lock combination) that only field work needs.
The group holds ``accounts.view_premise`` and ``accounts.view_field_notes``; it is attached again
after every migrate by accounts.apps (post_migrate) so the permissions exist first.
"""

from django.db import migrations

FIELD_SERVICES = "Field Services"


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.get_or_create(name=FIELD_SERVICES)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_group, migrations.RunPython.noop)]
