from django.urls import path

from portal import connect_views, views, views_rights

app_name = "portal"

urlpatterns = [
    path("portal/", views.portal_home, name="home"),
    path("portal/accounts/<str:account_number>/", views.portal_account, name="account"),
    path("portal/accounts/<str:account_number>/usage/", views.portal_usage, name="usage"),
    path(
        "portal/accounts/<str:account_number>/bills/<str:statement_number>.pdf",
        views.portal_bill_pdf,
        name="bill_pdf",
    ),
    path("portal/contact/", views.portal_contact, name="contact"),
    path("portal/privacy/", views.portal_privacy, name="privacy"),
    path("portal/privacy/consents/<int:consent_id>/revoke/", views.portal_consent_revoke, name="consent_revoke"),
    path("portal/alerts/", views.portal_alerts, name="alerts"),
    path("portal/security/", views.portal_security, name="security"),
    path("portal/enroll/", views.portal_enroll, name="enroll"),
    path("portal/corrections/new/", views.portal_correction_new, name="correction_new"),
    # Green Button Connect My Data: the OAuth authorization endpoint is the member's consent screen.
    path("oauth/authorize/", connect_views.ConnectAuthorizationView.as_view(), name="connect_authorize"),
    path("portal/connected-apps/", connect_views.portal_connected_apps, name="connected_apps"),
    path(
        "portal/connected-apps/<int:authorization_id>/end/",
        connect_views.portal_connected_app_end,
        name="connected_app_end",
    ),
    # A member's rights: full copy, requests and complaints, the membership list (portal/views_rights.py).
    path("portal/my-information/", views_rights.portal_full_copy, name="full_copy"),
    path("portal/requests/", views_rights.portal_requests, name="requests"),
    path("portal/requests/new/", views_rights.portal_request_new, name="request_new"),
    path("portal/requests/<int:pk>/", views_rights.portal_request, name="request"),
    path("portal/membership-list/", views_rights.portal_membership_list, name="membership_list"),
    path(
        "portal/membership-list/<int:pk>/download/",
        views_rights.portal_membership_list_download,
        name="membership_list_download",
    ),
]
