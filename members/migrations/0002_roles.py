from django.db import migrations


def create_roles(apps, schema_editor):
    # Permissions are created by post_migrate, after this migration; the post_migrate receiver in
    # members/apps.py attaches them. Here the groups themselves come into existence.
    from members.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
