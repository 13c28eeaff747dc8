"""The first versions of the notice texts (migration 0004 writes them), kept present after a flush.

Migrations run once; a transactional test's flush empties every table, and a restored or hand-built
database may lack them. Consents in the portal and Connect My Data need a current version of their
notice, so after every migrate (post_migrate) each kind with no version gets the migration's first
versions back. A kind that has any version is left alone: the Privacy Officer's versions are the truth.
"""

from __future__ import annotations

import importlib


def ensure_first_versions(sender=None, using: str = "default", **kwargs) -> None:
    if sender is not None and getattr(sender, "label", "") != "disclosures":
        return
    from disclosures.models import NoticeText

    seed = importlib.import_module("disclosures.migrations.0004_cmd_consent_notice_texts")
    present = set(NoticeText.objects.using(using).values_list("kind", flat=True).distinct())
    wanted = [
        ("portal_consent", 1, "Portal consent (wording not kept)", seed.PORTAL_V1),
        ("portal_consent", 2, "Share my information", seed.PORTAL_V2),
        ("connect_my_data", 1, "Connect my data to an app or service", seed.CONNECT_V1),
    ]
    NoticeText.objects.using(using).bulk_create(
        NoticeText(kind=kind, version=version, title=title, body=body)
        for kind, version, title, body in wanted
        if kind not in present
    )
