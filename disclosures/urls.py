from django.urls import path

from disclosures import api, views

app_name = "disclosures"

urlpatterns = [
    # Auditor pages (read-only)
    path("audit/", views.audit_index, name="audit-index"),
    path("audit/disclosures/", views.audit_log, name="audit-log"),
    path("audit/refused/", views.audit_refused, name="audit-refused"),
    path("audit/consents/", views.audit_consents, name="audit-consents"),
    path("audit/access-log/", views.audit_access_log, name="audit-access-log"),
    path("audit/chain/", views.audit_chain, name="audit-chain"),
    # Privacy Officer: releases through the export service
    path("disclosures/release/", views.release, name="release"),
    # Auditor API
    path("api/audit/disclosures/", api.AuditLogApi.as_view(), name="api-audit-log"),
    path("api/audit/refused/", api.AuditRefusedApi.as_view(), name="api-audit-refused"),
    path("api/audit/consents/", api.AuditConsentsApi.as_view(), name="api-audit-consents"),
    path("api/audit/access-log/", api.AuditAccessLogApi.as_view(), name="api-audit-access-log"),
    path("api/audit/chain/", api.AuditChainApi.as_view(), name="api-audit-chain"),
    # Member-facing API (the portal)
    path("api/me/consents/", api.MyConsentsApi.as_view(), name="api-my-consents"),
    path("api/me/consents/<int:consent_id>/revoke/", api.MyConsentRevokeApi.as_view(), name="api-my-consent-revoke"),
    path("api/me/disclosures/", api.MyDisclosuresApi.as_view(), name="api-my-disclosures"),
    path("api/me/recipients/", api.MyRecipientsApi.as_view(), name="api-my-recipients"),
]
