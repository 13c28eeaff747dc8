"""The member's correction requests on the staff member page (members/glance.py): the topic and status
only; the requested value is encrypted and shown on the request's own page."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from members.glance import GlancePanel, GlanceSection, register
from portal.models import CorrectionRequest


def corrections_section(*, member, user) -> GlanceSection:
    requests = (
        CorrectionRequest.objects.filter(member=member)
        .only("topic", "status", "submitted_at", "resolved_at")
        .order_by("-submitted_at")[:10]
    )
    rows = [
        (
            (request.get_topic_display(), reverse("admin:portal_correctionrequest_change", args=[request.pk])),
            f"{timezone.localtime(request.submitted_at):%b %d, %Y}",
            request.get_status_display()
            + (f" {timezone.localtime(request.resolved_at):%b %d, %Y}" if request.resolved_at else ""),
        )
        for request in requests
    ]
    return GlanceSection(
        title="Correction requests",
        columns=("Topic", "Asked", "Status"),
        rows=rows,
        empty="No correction requests.",
        alert=any(
            request.status in (CorrectionRequest.Status.RECEIVED, CorrectionRequest.Status.IN_REVIEW)
            for request in requests
        ),
    )


def register_panels() -> None:
    register(GlancePanel("corrections", 60, "portal.view_correctionrequest", corrections_section))
