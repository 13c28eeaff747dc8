"""The service address's trigram index keeps its pending list to 64 kB, as the member search's indexes do
(members migration 0016 says why)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_account_number_tail_index"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER INDEX premise_service_trgm_idx SET (gin_pending_list_limit = 64)",
            "ALTER INDEX premise_service_trgm_idx RESET (gin_pending_list_limit)",
        ),
    ]
