"""OAuth scopes: what a token lets a third party read, as ESPI function blocks and MemberGuard categories.

ESPI expresses a third party's access as a scope string of function blocks and data shape
(``FB=...;IntervalDuration=...;BlockDuration=...``); MemberGuard's gate thinks in the Privacy Policy's
data categories. Each scope below is one row tying the two, and the scopes a third party may ask for
are those of the categories the Privacy Officer approved for it (``ConnectScopes``): asking for more is
answered ``invalid_scope`` by the authorization server.
"""

from __future__ import annotations

from dataclasses import dataclass

from oauth2_provider.scopes import BaseScopes

from disclosures.models import DataCategory

# Interval usage: ESPI function blocks 1 (common), 3 (basic usage), 4 (interval metering), 5 (interval
# electricity metering), 13 (security and privacy classes), 14 (authorization), 15-minute intervals in
# daily blocks, as the co-op's AMI measures them.
ESPI_USAGE = "FB=1_3_4_5_13_14;IntervalDuration=900;BlockDuration=daily"
# The member's name, service address and contact (ESPI RetailCustomer); MemberGuard category A.1.
RETAIL_CUSTOMER = "memberguard:retail_customer"


@dataclass(frozen=True)
class Scope:
    name: str
    description: str
    category: str


SCOPES: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        Scope(ESPI_USAGE, "Your electricity use, in 15-minute intervals", DataCategory.USAGE),
        Scope(RETAIL_CUSTOMER, "Your name, service address, e-mail and phone", DataCategory.CONTACT),
    )
}
CATEGORY_SCOPE = {scope.category: scope.name for scope in SCOPES.values()}
CONNECTABLE_CATEGORIES = tuple(CATEGORY_SCOPE)


def scopes_for(categories: list[str]) -> list[str]:
    return [CATEGORY_SCOPE[category] for category in categories if category in CATEGORY_SCOPE]


def categories_for(scopes: list[str] | str) -> list[str]:
    names = scopes.split() if isinstance(scopes, str) else scopes
    return sorted({SCOPES[name].category for name in names if name in SCOPES})


class ConnectScopes(BaseScopes):
    """django-oauth-toolkit's scopes backend: a third party may ask only for what it was approved for."""

    def get_all_scopes(self) -> dict[str, str]:
        return {name: scope.description for name, scope in SCOPES.items()}

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        third_party = getattr(application, "third_party", None) if application is not None else None
        if third_party is None:
            return []
        return scopes_for(list(third_party.categories))

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return self.get_available_scopes(application, request)
