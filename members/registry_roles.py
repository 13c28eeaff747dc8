"""Who may do what in the registry (granted to the platform roles from AppConfig.ready()).

Least privilege: CSRs and Billing see masked records and search; only the Red Flag Analyst (identity
verification) and the Privacy Officer (access and correction requests, disclosures) may reveal full
identifiers, always with a typed reason. Nobody in an office role sees gate codes or dog warnings:
that is the ``Field Services`` group (accounts migration 0002), which holds ``accounts.view_field_notes``.
"""

from __future__ import annotations

from members import roles

FIELD_SERVICES = "Field Services"

_READ_REGISTRY = {
    "members.view_member",
    "members.view_financialaccount",
    "members.view_capitalcreditallocation",
    "accounts.view_account",
    "accounts.view_premise",
    "accounts.view_meter",
    "accounts.view_authorizedparty",
    "accounts.view_bill",
    "accounts.view_payment",
    "accounts.view_returnedmail",
    "accounts.view_statementnotice",
    # A member's statement of disagreement is read beside their record by anyone who reads the record.
    "members.view_disagreementstatement",
}

REGISTRY_PERMISSIONS: dict[str, set[str]] = {
    roles.CSR: _READ_REGISTRY
    | {
        "members.add_member",
        "members.change_member",
        "members.search_identifiers",
        "accounts.add_account",
        "accounts.change_account",
        "accounts.add_premise",
        "accounts.add_authorizedparty",
        "accounts.change_authorizedparty",
        "accounts.add_returnedmail",
        "accounts.add_statementnotice",
    },
    roles.BILLING: _READ_REGISTRY
    | {
        "members.add_financialaccount",
        "members.change_financialaccount",
        "members.add_capitalcreditallocation",
        "members.change_capitalcreditallocation",
        "accounts.change_account",
        "accounts.add_bill",
        "accounts.add_payment",
        "accounts.change_payment",
        "accounts.add_returnedmail",
    },
    roles.RED_FLAG_ANALYST: _READ_REGISTRY | {"members.search_identifiers", "members.reveal_identifiers"},
    # The migration lead signs off a CIS migration's reconciliation (accounts.MigrationRun).
    roles.PROGRAM_ADMINISTRATOR: {
        "members.view_member",
        "accounts.view_account",
        "accounts.view_migrationrun",
        "accounts.sign_off_migrationrun",
    },
    roles.PRIVACY_OFFICER: _READ_REGISTRY | {"members.reveal_identifiers"},
    roles.AUDITOR: _READ_REGISTRY | {"accounts.view_migrationrun"},
}

FIELD_SERVICES_PERMISSIONS = {"accounts.view_premise", "accounts.view_meter", "accounts.view_field_notes"}


def grant_registry_permissions() -> None:
    for role, permissions in REGISTRY_PERMISSIONS.items():
        roles.grant(role, *permissions)


def sync_field_services(**kwargs) -> None:
    """post_migrate: give the Field Services group exactly its permissions (idempotent)."""
    # Imported here: this module is imported by MembersConfig before the models are ready.
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=FIELD_SERVICES)  # also after a test flush
    wanted = []
    for dotted in sorted(FIELD_SERVICES_PERMISSIONS):
        app_label, codename = dotted.split(".", 1)
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is not None:
            wanted.append(permission)
    group.permissions.set(wanted)
