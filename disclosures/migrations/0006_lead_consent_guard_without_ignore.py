"""The consent's "revocation only" rule as a plain trigger too (issue 11 item 3 for issue 14.5's rule).

django-pgtrigger's protection (0005) consults ``pgtrigger.ignore``, a setting any role may SET: the
runtime role could switch it off and rewrite a consent's categories or dates. This trigger consults no
setting; only the owner can disable it (``ALTER TABLE ... DISABLE TRIGGER``), like the log tables' guard
(config/db_roles.py).
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION memberguard_consent_revocation_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'MemberGuard: Cannot update a consent but for its one revocation (consent %)', OLD.id;
END
$$;
DROP TRIGGER IF EXISTS memberguard_consent_revocation_only ON disclosures_consent;
CREATE TRIGGER memberguard_consent_revocation_only BEFORE UPDATE ON disclosures_consent
    FOR EACH ROW WHEN (OLD."revoked_at" IS NOT NULL OR ROW(OLD."id", OLD."member_id", OLD."recipient_id", OLD."categories", OLD."purpose", OLD."purpose_detail", OLD."channel", OLD."evidence", OLD."granted_at", OLD."expires_at", OLD."recorded_by_id", OLD."notice_text_id", OLD."notice_shown", OLD."notice_sha256") IS DISTINCT FROM ROW(NEW."id", NEW."member_id", NEW."recipient_id", NEW."categories", NEW."purpose", NEW."purpose_detail", NEW."channel", NEW."evidence", NEW."granted_at", NEW."expires_at", NEW."recorded_by_id", NEW."notice_text_id", NEW."notice_shown", NEW."notice_sha256"))
    EXECUTE FUNCTION memberguard_consent_revocation_only();
"""
REVERSE = """
DROP TRIGGER IF EXISTS memberguard_consent_revocation_only ON disclosures_consent;
DROP FUNCTION IF EXISTS memberguard_consent_revocation_only();
"""


class Migration(migrations.Migration):
    dependencies = [("disclosures", "0005_cmd_consent_append_only")]

    operations = [migrations.RunSQL(GUARD, REVERSE)]
