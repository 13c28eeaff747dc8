# Key rotation rewrites every encrypted column of every row, and no index covers an encrypted column, so
# each of those updates can be HOT (the new row version on the same page, no new index entries) if the
# page has room for it. A members_member row has 17 index entries (four of them GIN trigram entries for
# search): on full pages a rotation batch wrote ~20 WAL records per row and spent 90 % of its time there
# (EXPLAIN ANALYZE of one 5,000-row batch: 1,460 ms; with room on the page, 126 ms). A rotation updates
# every row of a page in one transaction, so the page needs room for a second version of each row: 50 %.
# The price is twice the heap pages (docs/benchmarks.md, "The ratios again", "Key rotation: HOT updates").
# Existing rows keep their full pages until they are rewritten: the first rotation after this migration
# moves them to new, half-filled pages, and every later one is HOT.
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("members", "0011_rights_disagreement_statement"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
            ALTER TABLE members_member SET (fillfactor = 50);
            ALTER TABLE members_financialaccount SET (fillfactor = 50);
            """,
            reverse_sql="""
            ALTER TABLE members_member RESET (fillfactor);
            ALTER TABLE members_financialaccount RESET (fillfactor);
            """,
        ),
    ]
