"""Reads of Connect My Data: a member's authorizations (the portal), one by id or 404, and a bearer
token's resolution for the ESPI API (one query per pull)."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet
from django.http import Http404
from oauth2_provider.models import AccessToken, Application

from connect.models import Authorization, ThirdParty
from disclosures.models import Recipient
from members.models import Member


def authorizations_of_member(*, member: Member) -> QuerySet[Authorization]:
    return Authorization.objects.filter(member=member).select_related("third_party").order_by("-created_at")


def authorization_of_member(*, member: Member, authorization_id: int) -> Authorization:
    """The member's own authorization or 404: never another member's."""
    authorization = authorizations_of_member(member=member).filter(pk=authorization_id).first()
    if authorization is None:
        raise Http404("No such authorization.")
    return authorization


# --- The pull's hot path: a bearer token resolved in one query ------------------------------------------

_TOKEN_COLUMNS: tuple[str, ...] = ("id", "token", "token_checksum", "expires", "scope", "user_id", "application_id")
_APPLICATION_COLUMNS: tuple[str, ...] = ("id", "client_id", "created")
_THIRD_PARTY_COLUMNS: tuple[str, ...] = ("id", "name", "status", "recipient_id", "application_id")
_RECIPIENT_COLUMNS: tuple[str, ...] = ("id", "name", "kind", "is_active")
_AUTHORIZATION_COLUMNS: tuple[str, ...] = (
    "id",
    "member_id",
    "third_party_id",
    "consent_id",
    "account_ids",
    "categories",
    "scope",
    "data_from",
    "expires_at",
    "created_at",
    "ended_at",
    "last_access_at",
)


def _in_model_order(model, names: tuple[str, ...]) -> tuple[str, ...]:
    """``Model.from_db`` takes a subset of columns in the model's own field order."""
    return tuple(field.attname for field in model._meta.concrete_fields if field.attname in names)


_TOKEN_COLUMNS = _in_model_order(AccessToken, _TOKEN_COLUMNS)
_APPLICATION_COLUMNS = _in_model_order(Application, _APPLICATION_COLUMNS)
_THIRD_PARTY_COLUMNS = _in_model_order(ThirdParty, _THIRD_PARTY_COLUMNS)
_RECIPIENT_COLUMNS = _in_model_order(Recipient, _RECIPIENT_COLUMNS)
_AUTHORIZATION_COLUMNS = _in_model_order(Authorization, _AUTHORIZATION_COLUMNS)


def _grant_sql() -> str:
    token, application = AccessToken._meta.db_table, Application._meta.db_table
    third_party, recipient = ThirdParty._meta.db_table, Recipient._meta.db_table
    authorization, member = Authorization._meta.db_table, Member._meta.db_table
    columns = ", ".join(
        f"{alias}.{column}"
        for alias, names in (
            ("t", _TOKEN_COLUMNS),
            ("app", _APPLICATION_COLUMNS),
            ("tp", _THIRD_PARTY_COLUMNS),
            ("r", _RECIPIENT_COLUMNS),
            ("a", _AUTHORIZATION_COLUMNS),
        )
        for column in names
    )
    # Table names are the models' own; the one value is a parameter.
    return (
        f"SELECT {columns} FROM {token} t"  # noqa: S608
        f" JOIN {application} app ON app.id = t.application_id"
        f" LEFT JOIN {third_party} tp ON tp.application_id = app.id"
        f" LEFT JOIN {recipient} r ON r.id = tp.recipient_id"
        f" LEFT JOIN {member} m ON m.user_id = t.user_id"
        f" LEFT JOIN {authorization} a ON a.third_party_id = tp.id AND a.member_id = m.id AND a.ended_at IS NULL"
        " WHERE t.token_checksum = %s"
    )


_GRANT_SQL: list[str] = []


def token_grant(*, token_sha256: str) -> tuple[AccessToken, Authorization | None] | None:
    """The access token with that checksum, its application, third party and recipient, and the member's
    authorization of that third party still on record (not ended), in one query: what every pull needs to
    decide, read once per request. None when no such token exists (expired tokens are returned: the
    caller decides). Related objects are attached, so nothing below queries them again; columns not read
    here load on first use (``Model.from_db`` defers them)."""
    if not _GRANT_SQL:
        _GRANT_SQL.append(_grant_sql())
    with connection.cursor() as cursor:
        cursor.execute(_GRANT_SQL[0], [token_sha256])
        row = cursor.fetchone()
    if row is None:
        return None
    values = iter(row)
    parts = [
        [next(values) for _ in names]
        for names in (
            _TOKEN_COLUMNS,
            _APPLICATION_COLUMNS,
            _THIRD_PARTY_COLUMNS,
            _RECIPIENT_COLUMNS,
            _AUTHORIZATION_COLUMNS,
        )
    ]
    token = AccessToken.from_db("default", _TOKEN_COLUMNS, parts[0])
    application = Application.from_db("default", _APPLICATION_COLUMNS, parts[1])
    token.application = application
    if parts[2][_THIRD_PARTY_COLUMNS.index("id")] is None:  # an OAuth client that is not a Connect My Data third party
        return token, None
    third_party = ThirdParty.from_db("default", _THIRD_PARTY_COLUMNS, parts[2])
    third_party.application = application
    if parts[3][_RECIPIENT_COLUMNS.index("id")] is not None:
        third_party.recipient = Recipient.from_db("default", _RECIPIENT_COLUMNS, parts[3])
    if parts[4][_AUTHORIZATION_COLUMNS.index("id")] is None:
        return token, None
    authorization = Authorization.from_db("default", _AUTHORIZATION_COLUMNS, parts[4])
    authorization.third_party = third_party
    return token, authorization
