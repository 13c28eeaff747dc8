"""Consent append-only (issue 14.5), after 0004 filled in the evidence of older portal consents: a portal
consent must carry its notice, a consent takes no change but its revocation (pgtrigger), and a notice
version a consent was given on is frozen (plain trigger, every role)."""

import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

FROZEN_WHEN_USED = """
CREATE OR REPLACE FUNCTION memberguard_notice_text_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM disclosures_consent WHERE notice_text_id = OLD.id) THEN
        RAISE EXCEPTION 'MemberGuard: % of notice text version % is refused: a consent was given on it',
            TG_OP, OLD.version;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER memberguard_notice_text_frozen BEFORE UPDATE OR DELETE ON disclosures_noticetext
    FOR EACH ROW EXECUTE FUNCTION memberguard_notice_text_frozen();
"""
REVERSE_FROZEN = """
DROP TRIGGER IF EXISTS memberguard_notice_text_frozen ON disclosures_noticetext;
DROP FUNCTION IF EXISTS memberguard_notice_text_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [("disclosures", "0004_cmd_consent_notice_texts")]

    operations = [
        migrations.AddConstraint(
            model_name='consent',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('channel', 'portal'), _negated=True), models.Q(('notice_text__isnull', False), models.Q(('notice_sha256', ''), _negated=True)), _connector='OR'), name='consent_portal_keeps_notice'),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='consent',
            trigger=pgtrigger.compiler.Trigger(name='consent_revocation_only', sql=pgtrigger.compiler.UpsertTriggerSql(condition='WHEN (OLD."revoked_at" IS NOT NULL OR ROW(OLD."id", OLD."member_id", OLD."recipient_id", OLD."categories", OLD."purpose", OLD."purpose_detail", OLD."channel", OLD."evidence", OLD."granted_at", OLD."expires_at", OLD."recorded_by_id", OLD."notice_text_id", OLD."notice_shown", OLD."notice_sha256") IS DISTINCT FROM ROW(NEW."id", NEW."member_id", NEW."recipient_id", NEW."categories", NEW."purpose", NEW."purpose_detail", NEW."channel", NEW."evidence", NEW."granted_at", NEW."expires_at", NEW."recorded_by_id", NEW."notice_text_id", NEW."notice_shown", NEW."notice_sha256"))', func="RAISE EXCEPTION 'pgtrigger: Cannot update rows from % table', TG_TABLE_NAME;", hash='9711a2d91fb047720db78eefbb6ae2a56c02d643', operation='UPDATE', pgid='pgtrigger_consent_revocation_only_c54ec', table='disclosures_consent', when='BEFORE')),
        ),
        migrations.RunSQL(FROZEN_WHEN_USED, REVERSE_FROZEN),
    ]
