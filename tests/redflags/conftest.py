from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from members import roles
from members.models import User
from redflags import services

PASSWORD = "a-long-test-password-42"


@pytest.fixture
def staff(db):
    """A staff login with a role and, unless told otherwise, a current training acknowledgement."""

    def _make(username: str, role: str, *, trained: bool = True) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        if trained:
            services.training_acknowledge(user=user, trained_by=None)
        return User.objects.get(pk=user.pk)  # fresh permission cache

    return _make


@pytest.fixture
def analyst(staff):
    return staff("ana", roles.RED_FLAG_ANALYST)


@pytest.fixture
def program_admin(staff):
    return staff("pat", roles.PROGRAM_ADMINISTRATOR)


@pytest.fixture
def csr(staff):
    return staff("casey", roles.CSR)


@pytest.fixture
def billing(staff):
    return staff("bo", roles.BILLING)


@pytest.fixture
def portal_member(db):
    return User.objects.create_user(username="member-outsider", password=PASSWORD)
