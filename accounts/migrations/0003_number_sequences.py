from django.db import migrations


class Migration(migrations.Migration):
    """Account and premise numbers for new rows come from sequences (no duplicate under concurrency)."""

    dependencies = [("accounts", "0002_field_services_role")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS accounts_account_number_seq START 1000000;"
            "CREATE SEQUENCE IF NOT EXISTS accounts_premise_number_seq START 1000000",
            "DROP SEQUENCE IF EXISTS accounts_account_number_seq; DROP SEQUENCE IF EXISTS accounts_premise_number_seq",
        ),
    ]
