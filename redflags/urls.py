from django.urls import path

from redflags import api, views

app_name = "redflags"

urlpatterns = [
    path("redflags/caller-verification/", views.caller_verification, name="caller-verification"),
    path("redflags/annual-review/", views.annual_review, name="annual-review"),
    path("redflags/annual-review.csv", views.annual_review_csv, name="annual-review-csv"),
    path("redflags/annual-review.pdf", views.annual_review_pdf, name="annual-review-pdf"),
    path("api/redflags/cra-alerts/", api.CraAlertCreateApi.as_view(), name="api-cra-alert"),
    path(
        "api/redflags/identity-theft-notices/",
        api.IdentityTheftNoticeCreateApi.as_view(),
        name="api-identity-theft-notice",
    ),
]
