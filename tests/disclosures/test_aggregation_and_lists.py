"""Aggregated data (seed 000 D.2, F.3; seed 001) and membership lists to members (seed 000 G)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import DisclosureLogEntry, LegalBasis, MembershipListRequest, Purpose, Recipient
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _groups(sizes: dict[str, int], *, big: dict[str, int] | None = None) -> dict[str, dict[int, int]]:
    groups, next_id = {}, 1
    for name, size in sizes.items():
        groups[name] = {}
        for _ in range(size):
            groups[name][next_id] = 100
            next_id += 1
        if big and name in big:
            groups[name][next_id - 1] = big[name]
    return groups


@pytest.fixture
def aggregate_basis(privacy_officer, recipient):
    state = recipient(Recipient.Kind.AFFILIATE, "State Energy Office")
    return services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.AGGREGATED,
        recipient=state,
        categories=[C.USAGE],
        purpose=Purpose.AGGREGATE_REPORTING,
        description="Quarterly load report by postal code",
        valid_until=timezone.now() + timedelta(days=90),
    )


class TestAggregationStandard:
    def test_groups_meeting_the_standard_are_released_as_totals_only(self, privacy_officer, aggregate_basis):
        export = services.aggregate_export(
            actor=privacy_officer,
            basis=aggregate_basis,
            recipient=aggregate_basis.recipient,
            groups=_groups({"62701": 15, "62702": 20}),
        )
        rows = list(csv.DictReader(io.StringIO(export.read_all().decode())))
        assert [(r["group"], r["members"], r["total_kwh"]) for r in rows] == [
            ("62701", "15", "1500"),
            ("62702", "20", "2000"),
        ]
        assert (
            export.entry.member_ids == []
            and export.entry.member_count == 35
            and export.entry.basis_kind == "aggregated"
        )

    def test_a_group_below_the_minimum_size_refuses_the_whole_release(self, privacy_officer, aggregate_basis):
        with pytest.raises(services.DisclosureRefused, match="has 14 members; the standard needs at least 15") as info:
            services.aggregate_export(
                actor=privacy_officer,
                basis=aggregate_basis,
                recipient=aggregate_basis.recipient,
                groups=_groups({"a": 20, "b": 14}),
            )
        assert info.value.entry.outcome == "refused"
        assert not DisclosureLogEntry.objects.filter(outcome="released").exists()

    def test_a_dominant_member_refuses_the_release(self, privacy_officer, aggregate_basis):
        with pytest.raises(services.DisclosureRefused, match="contributes"):
            services.aggregate_export(
                actor=privacy_officer,
                basis=aggregate_basis,
                recipient=aggregate_basis.recipient,
                groups=_groups({"a": 20}, big={"a": 1000}),
            )

    def test_the_standard_is_configurable(self, privacy_officer, aggregate_basis, settings):
        settings.AGGREGATION_MIN_MEMBERS = 100  # California's 100 residential customers
        assert services.aggregation_problems(_groups({"a": 99})) == [
            "group 'a' has 99 members; the standard needs at least 100"
        ]
        assert services.aggregation_problems(_groups({"a": 100})) == []
        settings.AGGREGATION_MAX_SHARE_PERCENT = 50
        assert services.aggregation_problems(_groups({"a": 100}, big={"a": 5000})) == []

    def test_an_expired_basis_is_refused(self, privacy_officer, aggregate_basis):
        LegalBasis.objects.filter(pk=aggregate_basis.pk).update(
            valid_from=timezone.now() - timedelta(days=9), valid_until=timezone.now() - timedelta(days=1)
        )
        with pytest.raises(services.DisclosureRefused, match="expired"):
            services.aggregate_export(
                actor=privacy_officer,
                basis=aggregate_basis,
                recipient=aggregate_basis.recipient,
                groups=_groups({"a": 20}),
            )

    def test_a_revoked_basis_is_refused(self, privacy_officer, aggregate_basis):
        services.legal_basis_revoke(actor=privacy_officer, basis=aggregate_basis, reason="program ended")
        with pytest.raises(services.DisclosureRefused, match="revoked"):
            services.aggregate_export(
                actor=privacy_officer,
                basis=aggregate_basis,
                recipient=aggregate_basis.recipient,
                groups=_groups({"a": 20}),
            )

    def test_an_aggregated_basis_cannot_release_member_rows(self, privacy_officer, aggregate_basis, members):
        with pytest.raises(services.DisclosureRefused, match="never member by member"):
            services.disclosure_export(
                actor=privacy_officer,
                recipient=aggregate_basis.recipient,
                categories=[C.USAGE],
                purpose=Purpose.AGGREGATE_REPORTING,
                basis=aggregate_basis,
                member_ids=[members[0].pk],
            )

    def test_groups_are_built_from_real_usage(self, privacy_officer, aggregate_basis):
        import datetime

        from accounts.usage.services import usage_ingest_file
        from disclosures.selectors import usage_groups
        from tests.factories import MeterFactory, OpenAccountFactory
        from tests.usage.conftest import csv_bytes, day_lines

        lines = []
        for index in range(3):
            meter = MeterFactory()
            OpenAccountFactory(premise=meter.premise, opened_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
            lines += day_lines(meter.meter_number, datetime.date(2026, 5, 4), values=[10 + index] * 96)
        usage_ingest_file(data=csv_bytes(lines), source="test", filename="agg.csv")
        groups = usage_groups(start_month=datetime.date(2026, 5, 1), end_month=datetime.date(2026, 5, 1))
        assert sum(len(g) for g in groups.values()) == 3
        with pytest.raises(services.DisclosureRefused, match="the standard needs at least 15"):
            services.aggregate_export(
                actor=privacy_officer, basis=aggregate_basis, recipient=aggregate_basis.recipient, groups=groups
            )


class TestMembershipList:
    @pytest.fixture
    def request_(self, csr):
        requester = MemberFactory()
        MemberFactory.create_batch(2)
        MemberFactory(status="former")
        return services.membership_list_request_create(
            actor=csr, requester=requester, purpose="Petition to nominate a board candidate (election)"
        )

    def test_an_approved_request_releases_names_and_mailing_addresses_only(self, privacy_officer, request_):
        services.membership_list_request_decide(
            actor=privacy_officer, request=request_, approve=True, note="election activity is a proper purpose"
        )
        export = services.membership_list_export(actor=privacy_officer, request=request_)
        rows = list(csv.DictReader(io.StringIO(export.read_all().decode())))
        assert list(rows[0]) == [
            "legal_name",
            "mailing_line1",
            "mailing_line2",
            "mailing_city",
            "mailing_state",
            "mailing_postal_code",
        ]
        assert len(rows) == 3  # active members only
        assert export.entry.basis_kind == "membership_list" and export.entry.member_count == 3
        request_.refresh_from_db()
        assert request_.status == MembershipListRequest.Status.RELEASED

    def test_a_pending_request_is_refused(self, privacy_officer, request_):
        with pytest.raises(services.DisclosureRefused, match="not approved"):
            services.membership_list_export(actor=privacy_officer, request=request_).read_all()

    def test_a_denied_request_is_refused(self, privacy_officer, request_):
        services.membership_list_request_decide(
            actor=privacy_officer, request=request_, approve=False, note="commercial solicitation"
        )
        with pytest.raises(services.DisclosureRefused, match="denied"):
            services.membership_list_export(actor=privacy_officer, request=request_).read_all()

    def test_an_expired_approval_is_refused(self, privacy_officer, request_):
        services.membership_list_request_decide(actor=privacy_officer, request=request_, approve=True, note="ok")
        MembershipListRequest.objects.filter(pk=request_.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
        with pytest.raises(services.DisclosureRefused, match="expired"):
            services.membership_list_export(actor=privacy_officer, request=request_).read_all()

    def test_a_withdrawn_request_is_refused(self, privacy_officer, csr, request_):
        services.membership_list_request_decide(actor=privacy_officer, request=request_, approve=True, note="ok")
        services.membership_list_request_withdraw(actor=csr, request=request_, reason="member withdrew")
        with pytest.raises(services.DisclosureRefused, match="withdrawn"):
            services.membership_list_export(actor=privacy_officer, request=request_).read_all()

    def test_a_list_is_released_once_per_approval(self, privacy_officer, request_):
        services.membership_list_request_decide(actor=privacy_officer, request=request_, approve=True, note="ok")
        services.membership_list_export(actor=privacy_officer, request=request_).read_all()
        with pytest.raises(services.DisclosureRefused, match="released"):
            services.membership_list_export(actor=privacy_officer, request=request_).read_all()

    def test_only_the_privacy_officer_decides(self, csr, request_):
        with pytest.raises(PermissionDenied):
            services.membership_list_request_decide(actor=csr, request=request_, approve=True, note="ok")

    def test_a_purpose_is_required(self, csr):
        with pytest.raises(ValidationError, match="purpose"):
            services.membership_list_request_create(actor=csr, requester=MemberFactory(), purpose=" ")

    def test_asking_for_more_than_names_and_addresses_is_refused(self, privacy_officer, request_):
        services.membership_list_request_decide(actor=privacy_officer, request=request_, approve=True, note="ok")
        with pytest.raises(services.DisclosureRefused, match="names and mailing addresses"):
            services.disclosure_export(
                actor=privacy_officer,
                recipient=None,
                categories=[C.CONTACT],
                purpose=Purpose.MEMBERSHIP_LIST,
                basis=request_,
                fields=["legal_name", "phone"],
            ).read_all()
