"""The disclosure log's head moves from the mutable ``ChainHead`` row to the insert-only chain anchors
(members/hashchain.py); the current head becomes the first anchor."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('disclosures', '0001_initial'),
        ('members', '0009_secdata_chains_and_anchors'),
    ]

    operations = [
        # The first anchor starts at the current head, not at #1: the "extends" check is off for this one row.
        migrations.RunSQL(
            "ALTER TABLE members_chainanchor DISABLE TRIGGER memberguard_anchor_extends;"
            " INSERT INTO members_chainanchor (chain, seq, entry_hash, at)"
            " SELECT 'disclosures', seq, entry_hash, now() FROM disclosures_chainhead WHERE seq > 0;"
            " ALTER TABLE members_chainanchor ENABLE TRIGGER memberguard_anchor_extends;",
            migrations.RunSQL.noop,
        ),
        migrations.DeleteModel(
            name='ChainHead',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='disclosurelogentry',
            name='disclosure_log_append_only',
        ),
        # Each log entry anchors itself (members/hashchain.py; the function comes from members 0007).
        migrations.RunSQL(
            "CREATE TRIGGER memberguard_anchor_append AFTER INSERT ON disclosures_disclosurelogentry"
            " FOR EACH ROW EXECUTE FUNCTION memberguard_anchor_append('disclosures')",
            "DROP TRIGGER IF EXISTS memberguard_anchor_append ON disclosures_disclosurelogentry",
        ),
    ]
