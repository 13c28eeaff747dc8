"""The portal's navigation, declared once: the header menu (templates/portal/base.html) and the browser
tests read this list. A new portal page adds one line here; a page not listed still shows the menu,
with no item marked current.

Each entry is (URL name, label, URL names that count as "in this section").
"""

from __future__ import annotations

NAV: list[tuple[str, str, tuple[str, ...]]] = [
    ("portal:home", "Home", ("portal:home", "portal:account", "portal:bill", "portal:bill_pdf", "portal:usage")),
    ("portal:contact", "My information", ("portal:contact",)),
    ("portal:privacy", "Sharing my data", ("portal:privacy",)),
    ("portal:connected_apps", "Connected apps", ("portal:connected_apps", "portal:connect_authorize")),
    (
        "portal:requests",
        "Requests and complaints",
        ("portal:requests", "portal:request_new", "portal:request", "portal:correction_new", "portal:membership_list"),
    ),
    ("portal:full_copy", "A copy of my data", ("portal:full_copy",)),
    ("portal:alerts", "Alerts", ("portal:alerts",)),
    ("portal:security", "Sign-in and security", ("portal:security", "account_change_password", "mfa_index")),
]
