"""A member number is searched by its start or its end through b-trees, not a trigram index (digits make
few distinct trigrams, each shared by most numbers). In SQL for the reason 0014 gives."""

from django.db import migrations

CREATE = (
    "CREATE INDEX member_number_tail_idx ON members_member (REVERSE(member_number) text_pattern_ops)"
)
DROP = "DROP INDEX IF EXISTS member_number_tail_idx"


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0014_phone_tail_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="member", name="member_number_trgm_idx"),
        migrations.RunSQL(CREATE, DROP),
    ]
