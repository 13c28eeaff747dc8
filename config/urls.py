from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config.health import healthz
from members.views import home

handler403 = "members.views.permission_denied"
# A database outage is a 503 with Retry-After, anything else a plain 500 (config/unavailable.py).
handler500 = "config.unavailable.server_error"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Sign-in, password reset, e-mail verification, reauthentication and MFA (django-allauth).
    path("auth/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Each app owns its URLs (pages and /api/ endpoints) in its own urls.py.
    path("", include("members.urls")),
    path("", include("portal.urls")),
    path("", include("accounts.urls")),
    path("", include("accounts.usage.urls")),
    path("", include("redflags.urls")),
    path("", include("disclosures.urls")),
    path("", include("retention.urls")),
]
