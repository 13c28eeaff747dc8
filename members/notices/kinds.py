"""The notice kinds, as one table: template, whether the member may turn it off, what it is about.

Security notices (a change to how someone reaches or signs in to the member's account, a release of
the member's data, the outcome of a correction request) are never optional: they are how a member
learns that somebody else is acting in their name. Optional alerts are the member's choice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoticeKind:
    code: str
    label: str
    optional: bool = False

    @property
    def template(self) -> str:
        return f"notices/{self.code}.txt"


KINDS: dict[str, NoticeKind] = {
    kind.code: kind
    for kind in (
        NoticeKind("contact_changed", "Contact information changed"),
        NoticeKind("bank_account_changed", "Bank account on file changed"),
        NoticeKind("online_access_enrolled", "Online access created"),
        NoticeKind("sign_in_changed", "Password or two-step sign-in changed"),
        NoticeKind("data_released", "Your information was shared"),
        NoticeKind("request_update", "Your correction request or complaint was received or updated"),
        NoticeKind("correction_resolved", "Your correction request or complaint was answered"),
        NoticeKind("data_copy_downloaded", "A full copy of your information was downloaded"),
        NoticeKind("connect_authorized", "You connected an app or service to your data"),
        NoticeKind("connect_ended", "An app or service no longer has access to your data"),
        NoticeKind("red_flag_contact", "Please contact us about your account"),
        NoticeKind("red_flag_new_account", "Did you apply for an account with us?"),
        NoticeKind("consent_changed", "Your sharing choices changed", optional=True),
        NoticeKind("new_sign_in", "New sign-in to your account", optional=True),
    )
}
OPTIONAL_KINDS = tuple(code for code, kind in KINDS.items() if kind.optional)


def kind_of(code: str) -> NoticeKind:
    try:
        return KINDS[code]
    except KeyError:
        raise ValueError(f"unknown notice kind {code!r}") from None
