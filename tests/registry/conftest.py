from __future__ import annotations

import pytest

from members import roles
from members.signals import account_opening, registry_changed


@pytest.fixture
def csr(make_user):
    return make_user("csr-casey", role=roles.CSR)


@pytest.fixture
def billing_clerk(make_user):
    return make_user("billing-bo", role=roles.BILLING)


@pytest.fixture
def analyst(make_user):
    return make_user("analyst-ana", role=roles.RED_FLAG_ANALYST)


@pytest.fixture
def field_worker(make_user):
    from django.contrib.auth.models import Group

    user = make_user("field-fran", is_staff=False)
    user.groups.add(Group.objects.get(name="Field Services"))
    return user


@pytest.fixture
def outsider(make_user):
    """Staff flag but no role: must see nothing."""
    return make_user("outsider-oscar", is_staff=True)


@pytest.fixture
def changes():
    """Every RegistryChange sent while the test runs."""
    seen = []

    def receiver(sender, change, **kwargs):
        seen.append(change)

    registry_changed.connect(receiver, dispatch_uid="test-registry-changes")
    yield seen
    registry_changed.disconnect(dispatch_uid="test-registry-changes")


@pytest.fixture
def opening_receiver():
    """Install a stand-in Red Flags receiver: ``opening_receiver(lambda account, **kw: ...)``."""
    installed = []

    def install(function):
        def receiver(sender, account, actor, checklist, **kwargs):
            function(account=account, actor=actor, checklist=checklist)

        account_opening.connect(receiver, weak=False, dispatch_uid=f"test-opening-{len(installed)}")
        installed.append(f"test-opening-{len(installed)}")

    yield install
    for uid in installed:
        account_opening.disconnect(dispatch_uid=uid)
