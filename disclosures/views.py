"""Auditor pages: read-only, server-rendered, over the disclosure log, refused attempts, consents, the
access log and the chain verification. Lists are filtered by query string and paginated; every list
offers a CSV and a PDF download (``?export=csv`` / ``?export=pdf``) of the filtered view, each itself
recorded (services.auditor_csv_export / auditor_pdf_export). Times are the co-op's local time
(``TIME_ZONE``), on screen and in both downloads, and the column headers say so.
No page shows a decrypted identifier."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from disclosures import selectors, services
from disclosures.chain import verify_chain
from disclosures.models import (
    Consent,
    DataCategory,
    DisclosureLogEntry,
    LegalBasis,
    MembershipListRequest,
    Purpose,
    Recipient,
)
from members.audit import verify_audit_chain
from members.models import Member

PAGE_SIZE = 50
FILTER_KEYS = (
    "outcome",
    "recipient",
    "basis_kind",
    "member",
    "since",
    "until",
    "q",
    "status",
    "channel",
    "purpose",
    "actor",
    "action",
)


def _require_auditor(request) -> None:
    """The access helper for every auditor page: an active login holding the audit permission."""
    user = request.user
    if not (user.is_active and user.has_perm("disclosures.view_access_log")):
        raise PermissionDenied


def _filters(request) -> dict:
    return {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}


def local_time(value) -> str:
    """A timestamp in the co-op's time zone, as on screen (the header names the zone)."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def zoned(name: str) -> str:
    return f"{name} ({settings.TIME_ZONE})"


def _export(request, *, kind: str, title: str, header: list[str], rows):
    """The filtered view as the download asked for (``export=csv`` or ``pdf``), or ``None`` for the page."""
    wanted = request.GET.get("export")
    if wanted == "csv":
        return _csv(request, kind=kind, header=header, rows=rows)
    if wanted == "pdf":
        filters = _filters(request)
        shown = ", ".join(f"{key} = {value}" for key, value in sorted(filters.items())) or "none"
        subtitle = (
            f"Filters: {shown}. Produced {timezone.localtime():%Y-%m-%d %H:%M} ({settings.TIME_ZONE}) by "
            f"{request.user.get_username()}; this download is itself on the disclosure log."
        )
        document = services.auditor_pdf_export(
            actor=request.user, kind=kind, title=title, subtitle=subtitle, header=header, rows=rows, filters=filters
        )
        response = HttpResponse(document, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="memberguard-{kind}-{timezone.localtime():%Y%m%d-%H%M%S}.pdf"'
        )
        return response
    return None


def _csv(request, *, kind: str, header: list[str], rows) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        services.auditor_csv_export(actor=request.user, kind=kind, header=header, rows=rows, filters=_filters(request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="memberguard-{kind}-{timezone.localtime():%Y%m%d-%H%M%S}.csv"'
    )
    return response


def _page(request, template: str, queryset, **context):
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    filters = _filters(request)
    nobody = bool(filters.get("member")) and selectors.member_from_filter(filters["member"]) == selectors.NOBODY
    return render(
        request,
        template,
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "time_zone": settings.TIME_ZONE,
            "member_unknown": nobody,
            **context,
        },
    )


LOG_HEADER = [
    "seq",
    zoned("at"),
    "actor",
    "outcome",
    "recipient",
    "basis_kind",
    "basis_ref",
    "purpose",
    "member_count",
    "categories",
    "format",
    "rows",
    "file_sha256",
    "reason",
    "notice_withheld",
    "entry_hash",
]


def _log_rows(queryset):
    for e in queryset.iterator(chunk_size=1000):
        yield [
            e.seq,
            local_time(e.at),
            e.actor_label,
            e.outcome,
            e.recipient_label,
            e.basis_kind,
            e.basis_ref,
            e.purpose,
            e.member_count,
            " ".join(e.categories),
            e.format,
            e.row_count,
            e.file_sha256,
            e.reason,
            e.notice_withheld,
            e.entry_hash,
        ]


@login_required
def audit_index(request):
    _require_auditor(request)
    return render(
        request,
        "disclosures/audit_index.html",
        {
            "released": DisclosureLogEntry.objects.filter(outcome="released").count(),
            "refused": DisclosureLogEntry.objects.filter(outcome="refused").count(),
            "consents": Consent.objects.count(),
            "recipients": Recipient.objects.count(),
            "bases": LegalBasis.objects.count(),
        },
    )


@login_required
def audit_log(request):
    _require_auditor(request)
    entries = selectors.disclosure_log(filters=_filters(request))
    if download := _export(
        request, kind="disclosure-log", title="Disclosure log", header=LOG_HEADER, rows=_log_rows(entries)
    ):
        return download
    return _page(
        request,
        "disclosures/audit_log.html",
        entries,
        title="Disclosure log",
        outcomes=DisclosureLogEntry.Outcome.choices,
        recipients=Recipient.objects.order_by("name").only("id", "name"),
    )


@login_required
def audit_refused(request):
    _require_auditor(request)
    entries = selectors.refused_attempts(filters=_filters(request))
    rows = _log_rows(entries)
    if download := _export(request, kind="refused-attempts", title="Refused attempts", header=LOG_HEADER, rows=rows):
        return download
    return _page(
        request,
        "disclosures/audit_log.html",
        entries,
        title="Refused attempts",
        refused_only=True,
        recipients=Recipient.objects.order_by("name").only("id", "name"),
    )


CONSENT_HEADER = [
    "id",
    "member_number",
    "recipient",
    "categories",
    "purpose",
    "channel",
    "evidence",
    zoned("granted_at"),
    zoned("expires_at"),
    zoned("revoked_at"),
    "revoked_by",
    "recorded_by",
    "status",
]


@login_required
def audit_consents(request):
    _require_auditor(request)
    consents = selectors.consent_list(filters=_filters(request))
    if request.GET.get("export") in ("csv", "pdf"):
        rows = (
            [
                c.pk,
                c.member.member_number,
                c.recipient.name,
                " ".join(c.categories),
                c.purpose,
                c.channel,
                c.evidence,
                local_time(c.granted_at),
                local_time(c.expires_at),
                local_time(c.revoked_at),
                c.revoked_by.username if c.revoked_by else "",
                c.recorded_by.username if c.recorded_by else "",
                c.status,
            ]
            for c in consents.iterator(chunk_size=1000)
        )
        return _export(request, kind="consents", title="Consents", header=CONSENT_HEADER, rows=rows)
    return _page(
        request,
        "disclosures/audit_consents.html",
        consents,
        channels=Consent.Channel.choices,
        recipients=Recipient.objects.order_by("name").only("id", "name"),
    )


ACCESS_HEADER = ["id", zoned("at"), "actor", "action", "object_type", "object_id", "fields", "search", "reason"]


@login_required
def audit_access_log(request):
    _require_auditor(request)
    events = selectors.access_log(filters=_filters(request))
    if request.GET.get("export") in ("csv", "pdf"):
        rows = (
            [
                e.pk,
                local_time(e.at),
                e.actor_label,
                e.action,
                e.object_type,
                e.object_id,
                " ".join(e.fields),
                (e.detail or {}).get("search", ""),
                e.reason,
            ]
            for e in events.iterator(chunk_size=1000)
        )
        return _export(request, kind="access-log", title="Access log", header=ACCESS_HEADER, rows=rows)
    return _page(request, "disclosures/audit_access.html", events)


@login_required
def audit_chain(request):
    _require_auditor(request)
    report = verify_chain()
    context = {"report": report, "audit_report": verify_audit_chain(), "checked_at": timezone.now()}
    return render(request, "disclosures/audit_chain.html", context)


# --- Privacy Officer: run a release through the gate ------------------------------------------------


class ReleaseForm(forms.Form):
    BASIS_CHOICES = [
        ("consents", "The members' consents (each member must have one)"),
        ("consent", "One consent record (id)"),
        ("legal_basis", "A legal basis (id)"),
        ("membership_list", "An approved membership-list request (id)"),
    ]
    recipient = forms.ModelChoiceField(
        queryset=Recipient.objects.filter(is_active=True).order_by("name"), required=False
    )
    basis_type = forms.ChoiceField(choices=BASIS_CHOICES)
    basis_id = forms.IntegerField(required=False, min_value=1)
    categories = forms.MultipleChoiceField(choices=DataCategory.choices, widget=forms.CheckboxSelectMultiple)
    purpose = forms.ChoiceField(choices=Purpose.choices)
    member_numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One per line or comma-separated; empty = every member the basis covers",
    )
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("json", "JSON"), ("espi", "Green Button XML (usage)")])
    usage_start = forms.DateField(required=False)
    usage_end = forms.DateField(required=False)

    def clean(self):
        data = super().clean()
        kind, pk = data.get("basis_type"), data.get("basis_id")
        models_by_kind = {"consent": Consent, "legal_basis": LegalBasis, "membership_list": MembershipListRequest}
        data["basis"] = None
        if kind in models_by_kind:
            if not pk:
                raise forms.ValidationError("Give the id of the basis.")
            data["basis"] = models_by_kind[kind].objects.filter(pk=pk).first()
            if data["basis"] is None:
                raise forms.ValidationError(f"There is no {kind.replace('_', ' ')} #{pk}.")
        numbers = [n.strip() for n in data.get("member_numbers", "").replace(",", "\n").splitlines() if n.strip()]
        data["member_ids"] = None
        if numbers:
            found = dict(Member.objects.filter(member_number__in=numbers).values_list("member_number", "pk"))
            unknown = [n for n in numbers if n not in found]
            if unknown:
                raise forms.ValidationError(f"Unknown member numbers: {', '.join(unknown[:10])}")
            data["member_ids"] = list(found.values())
        return data


@login_required
def release(request):
    """The Privacy Officer's release form: every download here goes through disclosure_export."""
    if not (request.user.is_active and request.user.has_perm("disclosures.release_disclosure")):
        raise PermissionDenied
    form = ReleaseForm(request.POST or None)
    refusal = ""
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            export = services.disclosure_export(
                actor=request.user,
                recipient=data["recipient"],
                categories=data["categories"],
                purpose=data["purpose"],
                basis=data["basis"],
                member_ids=data["member_ids"],
                format=data["format"],
                usage_start=data["usage_start"],
                usage_end=data["usage_end"],
            )
        except services.DisclosureRefused as exc:
            refusal = f"Refused (logged as entry #{exc.entry.seq if exc.entry else '?'}): {exc.reason}"
        else:
            response = StreamingHttpResponse(export.chunks(), content_type=export.content_type)
            response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
            return response
    # A download cannot show a page; the log entry each release made is listed here (newest first) as soon
    # as the file is complete, so the officer can cite it.
    recent = selectors.disclosure_log().filter(actor=request.user).exclude(basis_kind="audit_review")[:10]
    return render(
        request,
        "disclosures/release.html",
        {"form": form, "refusal": refusal, "recent": recent, "time_zone": settings.TIME_ZONE},
    )
