from __future__ import annotations

import pytest

from members.crypto import blind_index
from members.models import Member
from tests import factories

pytestmark = pytest.mark.django_db


def test_factories_build_a_member_with_an_open_account_and_a_payment():
    member = factories.MemberFactory()
    business = factories.BusinessMemberFactory()
    account = factories.OpenAccountFactory(member=member)
    factories.MeterFactory(premise=account.premise, has_solar=True)
    factories.BillFactory(account=account)
    factories.PaymentFactory(account=account)
    factories.AuthorizedPartyFactory(account=account)
    factories.FinancialAccountFactory(member=member)
    factories.CapitalCreditAllocationFactory(member=member)
    factories.ReturnedMailFactory(member=member, account=account)
    factories.StatementNoticeFactory(member=member, account=account)

    reloaded = Member.objects.get(pk=member.pk)
    assert reloaded.tax_id_index == blind_index("ssn", reloaded.ssn)
    assert reloaded.ssn_last4 == reloaded.ssn[-4:]
    assert Member.objects.get(pk=business.pk).tax_id_index == blind_index("tin", business.tin)
