"""The disclosure log's head moves from the mutable ``ChainHead`` row to the insert-only chain anchors
(members/hashchain.py); the current head becomes the first anchor."""

import pgtrigger.migrations
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('disclosures', '0001_initial'),
        ('members', '0007_secdata_chains_and_anchors'),
    ]

    operations = [
        migrations.RunSQL(
            "INSERT INTO members_chainanchor (chain, seq, entry_hash, at)"
            " SELECT 'disclosures', seq, entry_hash, now() FROM disclosures_chainhead WHERE seq > 0",
            migrations.RunSQL.noop,
        ),
        migrations.DeleteModel(
            name='ChainHead',
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='disclosurelogentry',
            name='disclosure_log_append_only',
        ),
    ]
