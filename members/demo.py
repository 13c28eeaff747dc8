"""Demo data for `make run`: one login per staff role, plus whatever each app's demo step adds.

Idempotent: running it twice changes nothing. Apps add their own steps by listing a callable in
DEMO_STEPS (in order: registry first, then the apps that build on it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth.models import Group
from django.db import transaction

from members import roles
from members.audit import audit_record
from members.models import User

DEMO_PASSWORD = "memberguard-demo"

STAFF_LOGINS = [
    ("csr", "Casey", "Reyes", roles.CSR),
    ("billing", "Bo", "Lindqvist", roles.BILLING),
    ("analyst", "Ana", "Iyer", roles.RED_FLAG_ANALYST),
    ("programadmin", "Pat", "Okafor", roles.PROGRAM_ADMINISTRATOR),
    ("privacy", "Priya", "Novak", roles.PRIVACY_OFFICER),
    ("auditor", "Aud", "Marsh", roles.AUDITOR),
]

# Later steps (registry, usage, red flags, disclosures) append here from their apps' ready().
DEMO_STEPS: list[Callable[[], str]] = []


@transaction.atomic
def seed_staff() -> str:
    """Staff logins, one per role"""
    created = 0
    for username, first, last, role in STAFF_LOGINS:
        user, was_created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "is_staff": True, "email": f"{username}@coop.example"},
        )
        if was_created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            audit_record(actor=None, actor_label="demo", action="user.create", obj=user, fields=["username", "groups"])
            created += 1
        user.groups.add(Group.objects.get(name=role))
    return f"staff logins: {created} created, {len(STAFF_LOGINS) - created} already present"


def seed_all(progress: Callable[[str], None] = lambda line: None) -> list[str]:
    """Every demo step in order; ``progress`` hears each step before it starts and when it ends.

    Some steps take minutes on a small machine (a year of 15-minute usage for the demo meters), so
    `make run` shows which step it is in rather than looking hung.
    """
    steps = [seed_staff, *DEMO_STEPS]
    results = []
    for number, step in enumerate(steps, 1):
        what = (step.__doc__ or step.__name__.replace("_", " ")).strip().splitlines()[0]
        progress(f"[{number}/{len(steps)}] {what} ...")
        started = time.monotonic()
        line = step()
        progress(f"      {line} ({time.monotonic() - started:.1f} s)")
        results.append(line)
    return results


def demo_logins() -> list[tuple[str, str]]:
    logins = [(username, role) for username, _first, _last, role in STAFF_LOGINS]
    members = User.objects.filter(is_staff=False, username__startswith="member").order_by("username")[:3]
    logins += [(user.username, "member (portal)") for user in members]
    return logins
