"""Categories and holds of ``disclosures`` on retention's registry.

``disclosures`` and ``retention`` are siblings in the layers and may not import each other, so the
project package, above both, wires the consent category and the legal-process hold together here
(called from ``config.apps.ProjectConfig.ready``).
"""

from __future__ import annotations

from disclosures import selectors as disclosure_selectors
from disclosures import services as disclosure_services
from retention.models import Category, Hold
from retention.registry import HoldSource, Purgeable, register, register_hold_source


def wire() -> None:
    register(
        Purgeable(
            category=Category.LAPSED_CONSENTS,
            pending=disclosure_selectors.lapsed_consents,
            destroy=disclosure_services.consents_destroy,
            method="rows deleted (the disclosure log keeps its reference)",
            object_type="disclosures.consent",
            date_field="granted_at__date",
            member_field="member_id",
        )
    )
    register_hold_source(HoldSource(Hold.Kind.LEGAL_PROCESS, members=disclosure_selectors.members_under_legal_process))
