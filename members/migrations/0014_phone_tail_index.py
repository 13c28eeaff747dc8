"""The phone search by ending uses a b-tree on the reversed number instead of a trigram index.

Django 5.2 writes ``OpClass(Reverse("phone"))`` as ``((REVERSE("phone") text_pattern_ops))``, which
PostgreSQL refuses, so the index is created here in SQL (as member_mailing_trgm_idx is by 0007/0012).
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX member_phone_tail_idx ON members_member (REVERSE(phone) text_pattern_ops) WHERE phone <> ''"
)
DROP = "DROP INDEX IF EXISTS member_phone_tail_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0013_ret_partial_indexes"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="member", name="member_phone_trgm_idx"),
        migrations.RunSQL(CREATE, DROP),
    ]
