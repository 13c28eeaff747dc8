"""The audit trail joins the hash chain (members/hashchain.py), and every chain's head is anchored.

Rows written before this migration are chained in ``id`` order (as the owner: the append-only trigger
is installed by ``migrate`` afterwards, config/db_roles.py) and the newest is anchored.
"""

import django.utils.timezone
import pgtrigger.migrations
from django.db import migrations, models

ANCHOR_TRIGGER = """
CREATE OR REPLACE FUNCTION memberguard_anchor_extends() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    SELECT max(seq) INTO newest FROM members_chainanchor WHERE chain = NEW.chain;
    IF NEW.seq <> COALESCE(newest, 0) + 1 THEN
        RAISE EXCEPTION 'MemberGuard: anchor #% of chain % does not extend its newest anchor #%',
            NEW.seq, NEW.chain, COALESCE(newest, 0);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberguard_anchor_extends BEFORE INSERT ON members_chainanchor
    FOR EACH ROW EXECUTE FUNCTION memberguard_anchor_extends();

-- The predecessor of the next entry, read after taking the chains' append lock: one round trip. (A
-- volatile function's statements each see what committed before them, so the read follows the lock.)
CREATE OR REPLACE FUNCTION memberguard_chain_head(p_chain text, p_lock bigint)
RETURNS TABLE (seq bigint, entry_hash text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(p_lock);
    RETURN QUERY SELECT a.seq, a.entry_hash::text FROM members_chainanchor a
                  WHERE a.chain = p_chain ORDER BY a.seq DESC LIMIT 1;
END
$$;

-- Each chained row anchors itself: no log row without its anchor, and no extra round trip.
CREATE OR REPLACE FUNCTION memberguard_anchor_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO members_chainanchor (chain, seq, entry_hash, at) VALUES (TG_ARGV[0], NEW.seq, NEW.entry_hash, now());
    RETURN NULL;
END
$$;
CREATE TRIGGER memberguard_anchor_append AFTER INSERT ON members_auditevent
    FOR EACH ROW EXECUTE FUNCTION memberguard_anchor_append('audit');
"""
DROP_ANCHOR_TRIGGER = """
DROP TRIGGER IF EXISTS memberguard_anchor_append ON members_auditevent;
DROP FUNCTION IF EXISTS memberguard_anchor_append();
DROP FUNCTION IF EXISTS memberguard_chain_head(text, bigint);
DROP TRIGGER IF EXISTS memberguard_anchor_extends ON members_chainanchor;
DROP FUNCTION IF EXISTS memberguard_anchor_extends();
"""


def chain_existing_rows(apps, schema_editor):
    from members import hashchain
    from members.audit import CANONICAL_COLUMNS

    AuditEvent = apps.get_model("members", "AuditEvent")
    ChainAnchor = apps.get_model("members", "ChainAnchor")
    rows = AuditEvent.objects.order_by("id")
    if not rows.exists():
        return
    key = hashchain.chain_key("audit")
    prev = hashchain.GENESIS
    seq = 0
    for event in rows.iterator(chunk_size=2000):
        seq += 1
        event.seq = seq
        event.prev_hash = prev
        event.ip_address = hashchain.ip_text(event.ip_address)
        values = [getattr(event, column) for column in CANONICAL_COLUMNS]
        event.entry_hash = hashchain.entry_hash(key, prev, values)
        event.save(update_fields=["seq", "prev_hash", "entry_hash"])
        prev = event.entry_hash
    ChainAnchor.objects.create(chain="audit", seq=seq, entry_hash=prev)


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0008_migration_extension_retirements'),
    ]

    operations = [
        migrations.CreateModel(
            name='ChainAnchor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('chain', models.CharField(max_length=20)),
                ('seq', models.BigIntegerField()),
                ('entry_hash', models.CharField(max_length=64)),
                ('at', models.DateTimeField(auto_now_add=True)),
            ],
        ),
        pgtrigger.migrations.RemoveTrigger(
            model_name='auditevent',
            name='audit_append_only',
        ),
        migrations.AddField(
            model_name='auditevent',
            name='entry_hash',
            field=models.CharField(default='', max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(default='', max_length=64),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddConstraint(
            model_name='chainanchor',
            constraint=models.UniqueConstraint(fields=('chain', 'seq'), name='chain_anchor_unique_seq'),
        ),
        migrations.RunPython(chain_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='entry_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='prev_hash',
            field=models.CharField(max_length=64),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunSQL(ANCHOR_TRIGGER, DROP_ANCHOR_TRIGGER),
    ]
