"""The search's GIN indexes keep their pending lists to 64 kB.

A GIN index takes new entries into an unsorted pending list, merged into the index by VACUUM or when the
list outgrows ``gin_pending_list_limit`` (4 MB by default), and every scan reads the whole list. After a
registry import or a key rotation the lists held about 4,400 members' trigrams (1.7 MB), and a name search
spent 2.4 ms of its 6.3 ms reading them. At 64 kB a list holds a few hundred entries; the merge runs more
often, in smaller pieces, during the writes that fill it. The indexes are altered in place, not rebuilt.
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import migrations

LIMITED = "ALTER INDEX {} SET (gin_pending_list_limit = 64)"
DEFAULT = "ALTER INDEX {} RESET (gin_pending_list_limit)"


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0015_member_number_tail_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="member", name="member_name_trgm_idx"),
                migrations.AddIndex(
                    model_name="member",
                    index=GinIndex(
                        fields=["name_search"],
                        name="member_name_trgm_idx",
                        opclasses=["gin_trgm_ops"],
                        gin_pending_list_limit=64,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(LIMITED.format("member_name_trgm_idx"), DEFAULT.format("member_name_trgm_idx")),
            ],
        ),
        migrations.RunSQL(LIMITED.format("member_mailing_trgm_idx"), DEFAULT.format("member_mailing_trgm_idx")),
    ]
