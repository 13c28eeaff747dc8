"""Two database roles: the owner that migrates, and the runtime role web, worker and beat use.

The owner (``MIGRATION_DATABASE_URL``'s login, or ``DATABASE_URL``'s login when that one is unset)
owns every table and runs ``migrate``; ``migrate`` then calls ``apply_runtime_grants`` (this module),
which is idempotent and leaves the runtime role (``DATABASE_RUNTIME_ROLE``):

* with no ownership, no TRUNCATE, no TRIGGER (only an owner may disable a trigger), no CREATE;
* SELECT, INSERT, UPDATE, DELETE on ordinary tables, and the same on tables created later by the
  owner (``ALTER DEFAULT PRIVILEGES``: new migrations need no grant of their own);
* only INSERT and SELECT on the insert-only tables, only no DELETE on the no-delete ones. A model joins
  with one line, a class attribute: ``append_only = INSERT_ONLY`` (or ``NO_DELETE``) from
  ``members.models``. Each such table also gets a plain PostgreSQL trigger that refuses UPDATE/DELETE
  (or DELETE) to every role. Unlike django-pgtrigger's protections it consults no setting, so
  ``SET LOCAL pgtrigger.ignore`` does not switch it off; only the owner can (``ALTER TABLE ... DISABLE
  TRIGGER``), deliberately.

Role names are cluster-wide: creation is idempotent and tolerates a concurrent creator, and grants are
per database, so several databases on one server can share the runtime role.
"""

from __future__ import annotations

import os

from django.apps import apps
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg2 import sql

from members.models import INSERT_ONLY, NO_DELETE

TRIGGER_NAME = "memberguard_append_only"

REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION memberguard_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The one exception: an owner-run purge function (SECURITY DEFINER, e.g. retention's lapsed consents,
    -- disclosures migration 0003) marks its transaction; the runtime role can neither own the table nor
    -- make a GUC it sets count, since the owner check fails outside such a function.
    IF TG_OP = 'DELETE' AND current_setting('memberguard.purging', true) = TG_TABLE_NAME
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'MemberGuard: % on % is refused: the table is append-only (docs/deployment.md)',
        TG_OP, TG_TABLE_NAME;
END
$$
"""

CREATE_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN
        CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another process (a parallel test database) created it first
END
$$
"""


def append_only_tables() -> dict[str, str]:
    """``{table: INSERT_ONLY | NO_DELETE}`` for every model that declares ``append_only``."""
    marked = {}
    for model in apps.get_models():
        mode = getattr(model, "append_only", None)
        if mode in (INSERT_ONLY, NO_DELETE):
            marked[model._meta.db_table] = mode
    return dict(sorted(marked.items()))


def runtime_role() -> str:
    from django.conf import settings

    return settings.DATABASE_RUNTIME_ROLE


def apply_runtime_grants(connection: BaseDatabaseWrapper, *, role: str | None = None) -> dict[str, str]:
    """Create the runtime role if missing, grant it its rights and install the append-only triggers.

    Runs as the owner (``migrate`` calls it). Returns the append-only tables it protected.
    """
    role = role or runtime_role()
    ident = sql.Identifier(role)
    tables = append_only_tables()
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        cursor.execute("SELECT current_user, current_database()")
        owner, database = cursor.fetchone()
        if owner == role:
            raise RuntimeError(f"the runtime role {role} cannot grant itself; migrate as the owner")
        raw.execute(sql.SQL(CREATE_ROLE).format(name=sql.Literal(role), role=ident))
        password = os.environ.get("DATABASE_RUNTIME_PASSWORD")
        if password:
            raw.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(password)))
        statements = [
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(database), ident),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM {}").format(ident),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(ident),
            sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {}").format(ident),
            sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident),
            sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(ident),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public"
                " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
            ).format(sql.Identifier(owner), ident),
            sql.SQL(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}"
            ).format(sql.Identifier(owner), ident),
            sql.SQL(REFUSE_FUNCTION),
        ]
        for table, mode in tables.items():
            table_ident = sql.Identifier(table)
            refused = "UPDATE, DELETE" if mode == INSERT_ONLY else "DELETE"
            events = "UPDATE OR DELETE" if mode == INSERT_ONLY else "DELETE"
            statements += [
                sql.SQL(f"REVOKE {refused} ON {{}} FROM {{}}").format(table_ident, ident),
                sql.SQL(
                    f"CREATE OR REPLACE TRIGGER {TRIGGER_NAME} BEFORE {events} ON {{}} "
                    "FOR EACH ROW EXECUTE FUNCTION memberguard_refuse_rewrite()"
                ).format(table_ident),
            ]
        for statement in statements:
            raw.execute(statement)
    return tables


def owner_settings(settings_dict: dict) -> dict:
    """The connection settings of the owner: ``MIGRATION_DATABASE_URL``'s login when set (same database
    name, so a test database stays the test database), else the same login without the assumed role."""
    import dj_database_url

    from config.env import env_str

    owner = dict(settings_dict)
    owner["OPTIONS"] = {key: value for key, value in settings_dict.get("OPTIONS", {}).items() if key != "assume_role"}
    url = env_str("MIGRATION_DATABASE_URL")
    if url:
        parsed = dj_database_url.parse(url)
        for key in ("USER", "PASSWORD", "HOST", "PORT"):
            owner[key] = parsed[key]
    return owner


class AsOwner:
    """Within this block the connection ``alias`` is the owner's (migrate, flush, grants)."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias

    def __enter__(self) -> BaseDatabaseWrapper:
        connection = connections[self.alias]
        self.saved = connection.settings_dict
        connection.close()
        connection.settings_dict = owner_settings(self.saved)
        return connection

    def __exit__(self, *exc_info) -> None:
        connection = connections[self.alias]
        connection.close()
        connection.settings_dict = self.saved


def ensure_runtime_role(alias: str = "default") -> None:
    """Create the runtime role, as the owner, if the server has none yet. ``migrate`` runs its system
    checks before it switches to the owner, and those connect acting as the runtime role: on a fresh
    server (a new machine's embedded one, a new cluster) that failed with "role ... does not exist"."""
    role = runtime_role()
    with AsOwner(alias) as connection, connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        raw.execute(sql.SQL(CREATE_ROLE).format(name=sql.Literal(role), role=sql.Identifier(role)))


def runtime_role_problems(connection: BaseDatabaseWrapper) -> list[str]:
    """What is wrong with the role this connection acts as, for a process that serves or works."""
    tables = append_only_tables()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        is_super, create_role, create_db, bypass_rls = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
        (owned,) = cursor.fetchone()
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " AND (has_table_privilege(c.oid, 'TRUNCATE') OR has_table_privilege(c.oid, 'TRIGGER')"
            " OR (c.relname = ANY(%s) AND has_table_privilege(c.oid, 'DELETE'))"
            " OR (c.relname = ANY(%s) AND has_table_privilege(c.oid, 'UPDATE')))",
            [list(tables), [table for table, mode in tables.items() if mode == INSERT_ONLY]],
        )
        rewritable = [row[0] for row in cursor.fetchall()]
    problems = []
    if is_super or create_role or create_db or bypass_rls:
        problems.append("the application connects as a superuser or a role that may create roles or databases")
    if owned:
        problems.append(f"the application's role owns {owned} table(s); the owner only migrates")
    if rewritable:
        problems.append(
            "the application's role may truncate, control triggers on, or rewrite: " + ", ".join(sorted(rewritable)[:8])
        )
    return problems
