"""Partitions are created and dropped by functions that run as their owner (SECURITY DEFINER).

The runtime database role owns nothing and may not CREATE or DROP a table (config/db_roles.py); the
monthly partition task and the retention purge call these two functions instead. The drop function
accepts only a partition of ``usage_meter_day`` named like one.
"""

from django.db import migrations

FUNCTIONS = """
ALTER FUNCTION usage_create_month_partition(date) SECURITY DEFINER SET search_path = public, pg_temp;

CREATE OR REPLACE FUNCTION usage_drop_month_partition(p_name text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_name !~ '^usage_meter_day_[0-9]{6}$' OR NOT EXISTS (
        SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_meter_day'::regclass AND c.relname = p_name
    ) THEN
        RAISE EXCEPTION 'MemberGuard: % is not a partition of usage_meter_day', p_name;
    END IF;
    EXECUTE format('DROP TABLE %I', p_name);
    RETURN true;
END
$$;
"""

REVERSE = """
ALTER FUNCTION usage_create_month_partition(date) SECURITY INVOKER RESET search_path;
DROP FUNCTION IF EXISTS usage_drop_month_partition(text);
"""


class Migration(migrations.Migration):
    dependencies = [('usage', '0003_greenbutton_usage_points')]

    operations = [migrations.RunSQL(FUNCTIONS, REVERSE)]
