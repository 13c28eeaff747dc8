from django.urls import path

from portal import connect_views, views

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
]
