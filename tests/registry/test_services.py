from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts import services as account_services
from accounts.models import Account, Payment
from members import services
from members.crypto import blind_index
from members.models import AuditEvent, Member
from members.selectors import access_log, members_matching
from tests import factories

pytestmark = pytest.mark.django_db

FAKE_SSN = "123-45-6789"


def _new_member(actor, **overrides):
    values = dict(
        actor=actor,
        legal_name="Dana Whitfield",
        mailing_line1="12 North Oak Street",
        mailing_city="Springfield",
        mailing_state="il",
        mailing_postal_code="62701",
        phone="(217) 555-0142",
        email="Dana@Example.test",
        ssn=FAKE_SSN,
        date_of_birth="1980-04-02",
        drivers_licence_number="W123-4567-8901",
        drivers_licence_state="IL",
    )
    values.update(overrides)
    return services.member_create(**values)


def test_creating_a_member_stores_canonical_values_indexes_and_an_audit_row(csr, changes):
    member = _new_member(csr)

    stored = Member.objects.get(pk=member.pk)
    assert stored.ssn == "123456789"
    assert stored.ssn_last4 == "6789"
    assert stored.tax_id_index == blind_index("ssn", FAKE_SSN)
    assert stored.licence_index == blind_index("licence", ("W12345678901", "IL"))
    assert stored.phone == "+12175550142"
    assert stored.email == "dana@example.test"
    assert stored.mailing_state == "IL"
    assert stored.member_number.startswith("M")
    event = AuditEvent.objects.get(action="member.created", object_id=str(member.pk))
    assert event.actor == csr
    assert "ssn" in event.fields
    assert [change.event for change in changes] == ["member.created"]
    assert changes[0].new_indexes["tax_id"] == stored.tax_id_index


def test_a_member_with_several_bad_fields_gets_every_message_and_nothing_is_saved(csr):
    with pytest.raises(ValidationError) as caught:
        _new_member(
            csr,
            ssn="666-12-3456",
            phone="12",
            email="not-an-email",
            mailing_postal_code="6270",
            date_of_birth="2999-01-01",
        )

    errors = caught.value.message_dict
    assert set(errors) >= {"ssn", "phone", "email", "mailing_postal_code", "date_of_birth"}
    assert FAKE_SSN not in str(errors) and "666" not in str(errors)
    assert not Member.objects.exists()
    assert not AuditEvent.objects.filter(action="member.created").exists()


@pytest.mark.parametrize(
    "bad_ssn",
    [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "12345678",
        "1234567890",
        "078-05-1120",
    ],
)
def test_social_security_numbers_follow_the_ssa_rules(csr, bad_ssn):
    with pytest.raises(ValidationError) as caught:
        _new_member(csr, ssn=bad_ssn)
    assert "ssn" in caught.value.message_dict


def test_arabic_indic_digits_cannot_pass_as_an_ssn_but_full_width_digits_match_the_ascii_number(csr):
    with pytest.raises(ValidationError):
        _new_member(csr, ssn="١٢٣-٤٥-٦٧٨٩")
    member = _new_member(csr, ssn="１２３-４５-６７８９")
    assert Member.objects.get(pk=member.pk).tax_id_index == blind_index("ssn", FAKE_SSN)
    assert [found.pk for found in members_matching("ssn", FAKE_SSN)] == [member.pk]


def test_a_business_is_identified_by_a_valid_ein(csr):
    with pytest.raises(ValidationError) as caught:
        _new_member(csr, kind="business", ssn=None, date_of_birth=None, tin="07-1234567")
    assert "tin" in caught.value.message_dict
    business = _new_member(
        csr,
        kind="business",
        legal_name="Prairie Grain LLC",
        ssn=None,
        date_of_birth=None,
        drivers_licence_number=None,
        drivers_licence_state="",
        tin="12-3456789",
    )
    assert business.tax_id_index == blind_index("tin", "123456789")


def test_changing_the_address_announces_old_and_new_indexes_but_no_plaintext(csr, changes):
    member = _new_member(csr)
    old_index = member.address_index
    changes.clear()

    services.member_change_address(
        actor=csr, member=member, line1="400 W Elm Ave", city="Peoria", state="IL", postal_code="61602"
    )

    [change] = changes
    assert change.event == "member.address_changed"
    assert change.old_indexes == {"address": old_index}
    assert change.new_indexes == {"address": blind_index("address", ("400 W Elm Ave", "", "Peoria", "IL", "61602"))}
    assert "Elm" not in repr(change) and "6789" not in repr(change)
    assert change.member_id == member.pk and change.actor_id == csr.pk
    assert AuditEvent.objects.filter(action="member.address_changed", object_id=str(member.pk)).count() == 1


def test_equivalent_addresses_share_an_index():
    assert blind_index(
        "address", ("12 North Oak Street", "Apartment 4", "Springfield", "il", "62701-1234")
    ) == blind_index("address", ("12 N. Oak St", "Apt 4", "SPRINGFIELD", "IL", "62701"))


def test_changing_identifiers_recomputes_indexes_and_the_last_four(csr, changes):
    member = _new_member(csr)
    changes.clear()
    services.member_change_identifiers(actor=csr, member=member, ssn="123-45-6790")

    stored = Member.objects.get(pk=member.pk)
    assert stored.ssn_last4 == "6790"
    assert stored.tax_id_index == blind_index("ssn", "123456790")
    assert changes[0].old_indexes["tax_id"] == blind_index("ssn", FAKE_SSN)


def test_status_runs_applicant_active_former_and_former_members_are_kept(csr):
    member = _new_member(csr)
    with pytest.raises(ValidationError):
        services.member_change_status(actor=csr, member=member, status="applicant")
    services.member_change_status(actor=csr, member=member, status="active", on=datetime.date(2024, 1, 2))
    services.member_change_status(actor=csr, member=member, status="former", on=datetime.date(2026, 3, 1))
    stored = Member.objects.get(pk=member.pk)
    assert (stored.status, stored.joined_on, stored.left_on) == (
        "former",
        datetime.date(2024, 1, 2),
        datetime.date(2026, 3, 1),
    )
    assert not hasattr(stored, "retain_until")  # the retention schedule alone decides (issue 12)


def test_opening_an_account_lets_red_flags_decide_while_it_is_pending(csr, opening_receiver, changes):
    seen_status = []
    opening_receiver(lambda account, **kw: seen_status.append(account.status))
    member = factories.MemberFactory()
    premise = factories.PremiseFactory()

    account = account_services.account_open(
        actor=csr,
        member=member,
        premise=premise,
        checklist={"id_document_checked": True, "id_document": "drivers_licence"},
    )

    assert seen_status == ["pending"]
    assert account.status == Account.Status.OPEN and account.opened_at and account.opened_by == csr
    assert "account.opened" in [change.event for change in changes]
    assert AuditEvent.objects.filter(action="account.opened", object_id=str(account.pk)).exists()


def test_a_held_opening_stays_pending_and_can_be_released(csr, analyst, opening_receiver):
    def hold(account, **kwargs):
        account.on_hold = True
        account.red_flag_warning = True

    opening_receiver(hold)
    account = account_services.account_open(
        actor=csr, member=factories.MemberFactory(), premise=factories.PremiseFactory()
    )

    stored = Account.objects.get(pk=account.pk)
    assert (stored.status, stored.on_hold, stored.red_flag_warning, stored.opened_at) == ("pending", True, True, None)
    account_services.account_release_hold(actor=analyst, account=stored, reason="Licence checked in person")
    assert Account.objects.get(pk=account.pk).status == "open"


def test_a_denied_opening_is_recorded_as_denied(csr, opening_receiver):
    opening_receiver(lambda account, **kw: setattr(account, "status", "denied"))
    account = account_services.account_open(
        actor=csr, member=factories.MemberFactory(), premise=factories.PremiseFactory()
    )
    assert Account.objects.get(pk=account.pk).status == "denied"
    assert AuditEvent.objects.filter(action="account.denied", object_id=str(account.pk)).exists()


def test_a_receiver_error_rolls_the_whole_opening_back(csr, opening_receiver):
    def explode(**kwargs):
        raise RuntimeError("scoring failed")

    opening_receiver(explode)
    with pytest.raises(RuntimeError):
        account_services.account_open(actor=csr, member=factories.MemberFactory(), premise=factories.PremiseFactory())
    assert not Account.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="account.").exists()


def test_account_activity_is_audited_and_announced(csr, billing_clerk, changes):
    account = factories.OpenAccountFactory()
    party = account_services.authorized_party_add(
        actor=csr, account=account, name="Lee Whitfield", relationship="spouse", phone="217-555-0199"
    )
    account_services.authorized_party_remove(actor=csr, party=party, reason="member asked")
    bill = account_services.bill_record(
        actor=billing_clerk,
        account=account,
        statement_number="S-1",
        period_start=datetime.date(2026, 9, 1),
        period_end=datetime.date(2026, 9, 30),
        issued_on=datetime.date(2026, 10, 1),
        due_on=datetime.date(2026, 10, 21),
        amount_due="100.00",
        kwh="700",
    )
    payment = account_services.payment_record(
        actor=billing_clerk, account=account, amount="100.00", method="check", bill=bill
    )
    account_services.payment_return(actor=billing_clerk, payment=payment, reason="NSF from bank")
    account_services.returned_mail_record(
        actor=csr, member=account.member, account=account, returned_on=datetime.date(2026, 10, 5)
    )
    account_services.statement_notice_record(
        actor=csr, member=account.member, account=account, reported_on=datetime.date(2026, 10, 6)
    )
    account_services.account_close(actor=csr, account=account, reason="moving away")

    events = [change.event for change in changes]
    assert events == [
        "account.party_added",
        "account.party_removed",
        "account.bill_recorded",
        "account.payment_recorded",
        "account.payment_returned",
        "account.mail_returned",
        "account.statement_not_received",
        "account.closed",
    ]
    assert changes[0].new_indexes == {"phone": blind_index("phone", "+12175550199")}
    assert Payment.objects.get(pk=payment.pk).returned
    audited = set(AuditEvent.objects.values_list("action", flat=True))
    assert set(events) <= audited


def test_a_bad_payment_changes_nothing(billing_clerk):
    account = factories.OpenAccountFactory()
    other_bill = factories.BillFactory()
    with pytest.raises(ValidationError) as caught:
        account_services.payment_record(
            actor=billing_clerk, account=account, amount="-5", method="barter", bill=other_bill
        )
    assert set(caught.value.message_dict) == {"amount", "method", "bill"}
    assert not Payment.objects.filter(account=account).exists()


def test_capital_credits_are_allocated_once_per_member_and_year(billing_clerk):
    member = factories.MemberFactory()
    services.capital_credit_allocate(
        actor=billing_clerk, member=member, year=2024, patronage_amount="1000", allocated_amount="70"
    )
    services.capital_credit_allocate(
        actor=billing_clerk, member=member, year=2024, patronage_amount="1000", allocated_amount="75"
    )
    assert member.capital_credits.get().allocated_amount == Decimal("75")


def test_bank_accounts_are_validated_encrypted_and_indexed(billing_clerk):
    member = factories.MemberFactory()
    with pytest.raises(ValidationError) as caught:
        services.financial_account_add(
            actor=billing_clerk, member=member, routing_number="011000016", account_number="12"
        )
    assert set(caught.value.message_dict) == {"routing_number", "account_number"}
    financial = services.financial_account_add(
        actor=billing_clerk, member=member, routing_number="011000015", account_number="000123456789"
    )
    assert financial.last4 == "6789"
    assert financial.bank_account_index == blind_index("bank_account", ("011000015", "000123456789"))


def test_revealing_needs_the_permission_and_a_reason_and_is_logged(csr, analyst):
    member = _new_member(csr)
    with pytest.raises(PermissionDenied):
        services.member_reveal(actor=csr, member=member, field_name="ssn", reason="caller asked for it")
    with pytest.raises(ValidationError):
        services.member_reveal(actor=analyst, member=member, field_name="ssn", reason="because")
    with pytest.raises(ValidationError):
        services.member_reveal(actor=analyst, member=member, field_name="ssn", reason="matching 123-45-6789 to file")

    grant = services.member_reveal(
        actor=analyst, member=member, field_name="ssn", reason="Verifying identity for a held opening"
    )

    assert grant.expires_at > grant.granted_at
    actions = list(access_log(member=member).values_list("action", "actor__username"))
    assert ("access.reveal", "analyst-ana") in actions
    assert ("access.reveal_denied", "csr-casey") in actions


def test_a_given_member_number_is_stored_upper_case_and_checked(csr):
    from members.services import member_create

    member = member_create(actor=csr, legal_name="Lower Case Number", member_number="legacy-42")
    assert member.member_number == "LEGACY-42"
    with pytest.raises(ValidationError) as excinfo:
        member_create(actor=csr, legal_name="Dup", member_number="Legacy-42")
    assert "member_number" in excinfo.value.message_dict
    with pytest.raises(ValidationError) as excinfo:
        member_create(actor=csr, legal_name="Bad", member_number="no spaces allowed")
    assert "member_number" in excinfo.value.message_dict
