"""Auditor pages: read-only, server-rendered, over the disclosure log, refused attempts, consents, the
access log and the chain verification. Lists are filtered by query string and paginated; every list
offers a CSV download (``?export=csv``), which is itself recorded (services.auditor_csv_export).
No page shows a decrypted identifier."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from disclosures import selectors, services
from disclosures.chain import verify_chain
from disclosures.models import Consent, DisclosureLogEntry, LegalBasis, Recipient

PAGE_SIZE = 50
FILTER_KEYS = ("outcome", "recipient", "basis_kind", "member", "since", "until", "q", "status", "channel", "purpose", "actor", "action")


def _require_auditor(request) -> None:
    """The access helper for every auditor page: an active login holding the audit permission."""
    user = request.user
    if not (user.is_active and user.has_perm("disclosures.view_access_log")):
        raise PermissionDenied


def _filters(request) -> dict:
    return {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}


def _csv(request, *, kind: str, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        services.auditor_csv_export(actor=request.user, kind=kind, header=header, rows=rows, filters=_filters(request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="memberguard-{kind}-{timezone.localtime():%Y%m%d-%H%M%S}.csv"'
    return response


def _page(request, template: str, queryset, **context):
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, template, {"page": page, "filters": _filters(request), "query": query.urlencode(), **context})


LOG_HEADER = ["seq", "at", "actor", "outcome", "recipient", "basis_kind", "basis_ref", "purpose", "member_count", "categories", "format", "rows", "file_sha256", "reason", "notice_withheld", "entry_hash"]


def _log_rows(queryset):
    for e in queryset.iterator(chunk_size=1000):
        yield [e.seq, e.at, e.actor_label, e.outcome, e.recipient_label, e.basis_kind, e.basis_ref, e.purpose, e.member_count,
               " ".join(e.categories), e.format, e.row_count, e.file_sha256, e.reason, e.notice_withheld, e.entry_hash]


@login_required
def audit_index(request):
    _require_auditor(request)
    return render(request, "disclosures/audit_index.html", {
        "released": DisclosureLogEntry.objects.filter(outcome="released").count(),
        "refused": DisclosureLogEntry.objects.filter(outcome="refused").count(),
        "consents": Consent.objects.count(),
        "recipients": Recipient.objects.count(),
        "bases": LegalBasis.objects.count(),
    })


@login_required
def audit_log(request):
    _require_auditor(request)
    entries = selectors.disclosure_log(filters=_filters(request))
    if request.GET.get("export") == "csv":
        return _csv(request, kind="disclosure-log", header=LOG_HEADER, rows=_log_rows(entries))
    return _page(request, "disclosures/audit_log.html", entries, title="Disclosure log", outcomes=DisclosureLogEntry.Outcome.choices,
                 recipients=Recipient.objects.order_by("name").only("id", "name"))


@login_required
def audit_refused(request):
    _require_auditor(request)
    entries = selectors.refused_attempts(filters=_filters(request))
    if request.GET.get("export") == "csv":
        return _csv(request, kind="refused-attempts", header=LOG_HEADER, rows=_log_rows(entries))
    return _page(request, "disclosures/audit_log.html", entries, title="Refused attempts", refused_only=True,
                 recipients=Recipient.objects.order_by("name").only("id", "name"))


CONSENT_HEADER = ["id", "member_number", "recipient", "categories", "purpose", "channel", "evidence", "granted_at", "expires_at", "revoked_at", "revoked_by", "recorded_by", "status"]


@login_required
def audit_consents(request):
    _require_auditor(request)
    consents = selectors.consent_list(filters=_filters(request))
    if request.GET.get("export") == "csv":
        rows = ([c.pk, c.member.member_number, c.recipient.name, " ".join(c.categories), c.purpose, c.channel, c.evidence, c.granted_at,
                 c.expires_at, c.revoked_at, c.revoked_by.username if c.revoked_by else "", c.recorded_by.username if c.recorded_by else "", c.status]
                for c in consents.iterator(chunk_size=1000))
        return _csv(request, kind="consents", header=CONSENT_HEADER, rows=rows)
    return _page(request, "disclosures/audit_consents.html", consents, channels=Consent.Channel.choices,
                 recipients=Recipient.objects.order_by("name").only("id", "name"))


ACCESS_HEADER = ["id", "at", "actor", "action", "object_type", "object_id", "fields", "reason"]


@login_required
def audit_access_log(request):
    _require_auditor(request)
    events = selectors.access_log(filters=_filters(request))
    if request.GET.get("export") == "csv":
        rows = ([e.pk, e.at, e.actor_label, e.action, e.object_type, e.object_id, " ".join(e.fields), e.reason] for e in events.iterator(chunk_size=1000))
        return _csv(request, kind="access-log", header=ACCESS_HEADER, rows=rows)
    return _page(request, "disclosures/audit_access.html", events)


@login_required
def audit_chain(request):
    _require_auditor(request)
    report = verify_chain()
    return render(request, "disclosures/audit_chain.html", {"report": report, "checked_at": timezone.now()})
