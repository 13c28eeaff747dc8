"""An account number is searched by its start or its end through b-trees, not a trigram index (as members
0015 does for member numbers). In SQL: Django 5.2 parenthesises OpClass(Reverse(...)) wrongly."""

from django.db import migrations

CREATE = (
    "CREATE INDEX account_number_tail_idx ON accounts_account (REVERSE(account_number) text_pattern_ops)"
)
DROP = "DROP INDEX IF EXISTS account_number_tail_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0010_ratio_premise_fillfactor"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="account", name="account_number_trgm_idx"),
        migrations.RunSQL(CREATE, DROP),
    ]
