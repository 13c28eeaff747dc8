from django.db import migrations


class Migration(migrations.Migration):
    """Member numbers for new members come from a sequence, so two clerks never get the same one."""

    dependencies = [("members", "0003_registry")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS members_member_number_seq START 1000000",
            "DROP SEQUENCE IF EXISTS members_member_number_seq",
        ),
    ]
