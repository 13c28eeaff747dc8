# Room on each page for key rotation's HOT updates of the premise's encrypted columns (gate code, meter
# reading notes): see members/migrations/0012_ratio_hot_rotation_fillfactor.py.
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0009_portalui_bill_reads_charges"),
    ]

    operations = [
        migrations.RunSQL(
            sql="ALTER TABLE accounts_premise SET (fillfactor = 50);",
            reverse_sql="ALTER TABLE accounts_premise RESET (fillfactor);",
        ),
    ]
