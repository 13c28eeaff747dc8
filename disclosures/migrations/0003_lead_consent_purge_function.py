"""Lapsed consents are destroyed only through an owner-run function (issue 12 meets issue 11).

The consent table is append-only for the application (no DELETE: config/db_roles.py), yet the retention
schedule must destroy revoked and expired consents after their evidence period. This function, owned by
the migration role and run with its rights (SECURITY DEFINER), is the one way: it deletes only the given
ids that are revoked or expired, and marks its own transaction so the append-only trigger lets exactly
those deletes through (memberguard_refuse_rewrite checks the mark *and* that the current user owns the
table, which the runtime role can only be inside this function).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION memberguard_purge_lapsed_consents(p_ids bigint[]) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    n integer;
BEGIN
    PERFORM set_config('memberguard.purging', 'disclosures_consent', true);
    DELETE FROM disclosures_consent
     WHERE id = ANY(p_ids) AND (revoked_at IS NOT NULL OR (expires_at IS NOT NULL AND expires_at <= now()));
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('memberguard.purging', '', true);
    RETURN n;
END
$$;
"""

REVERSE = "DROP FUNCTION IF EXISTS memberguard_purge_lapsed_consents(bigint[]);"


class Migration(migrations.Migration):
    dependencies = [("disclosures", "0002_secdata_chains_and_anchors")]

    operations = [migrations.RunSQL(FUNCTION, REVERSE)]
