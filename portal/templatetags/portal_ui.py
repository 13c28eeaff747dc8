"""Template helpers for the portal's look (U.S. Web Design System): the header menu from
portal/navigation.py, with the current section marked for screen readers (aria-current) and sight,
and the co-op's name and phone from settings."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from portal.navigation import NAV

register = template.Library()


@register.simple_tag
def coop_name() -> str:
    return settings.COOP_NAME


@register.simple_tag
def coop_phone() -> str:
    return settings.COOP_PHONE


@register.inclusion_tag("portal/_nav.html", takes_context=True)
def portal_nav(context) -> dict:
    """The member menu. Staff reach the allauth pages (sign-in, two-step set-up) in the same look but
    get no member menu: its pages are for members only."""
    request = context.get("request")
    user = context.get("user")
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    items = []
    if user is not None and user.is_authenticated and not user.is_staff:
        for name, label, section in NAV:
            try:
                href = reverse(name)
            except NoReverseMatch:
                continue
            items.append({"href": href, "label": label, "current": current in section})
    return {"items": items, "user": user, "csrf_token": context.get("csrf_token")}


_CLASS_BY_INPUT = {
    "select": "usa-select",
    "selectmultiple": "usa-select",
    "textarea": "usa-textarea",
    "checkbox": "usa-checkbox__input",
    "checkboxselectmultiple": "usa-checkbox__input",
    "radioselect": "usa-radio__input",
}


@register.filter
def uswds_kind(field) -> str:
    """How the design system lays a field out: 'checkbox', 'choices' (a set of boxes or radios) or 'input'."""
    name = type(field.field.widget).__name__.lower()
    if name == "checkboxinput":
        return "checkbox"
    if name in ("checkboxselectmultiple", "radioselect"):
        return "choices"
    return "input"


@register.filter
def uswds(field):
    """The bound field with the design system's class on its widget and its hint and errors tied to it
    (aria-describedby), so a screen reader reads them with the field."""
    widget = field.field.widget
    name = type(widget).__name__.lower()
    if name == "checkboxinput":
        css = "usa-checkbox__input"
    else:
        css = _CLASS_BY_INPUT.get(name, "usa-input")
    if field.errors and css in ("usa-input", "usa-select", "usa-textarea"):
        css += " usa-input--error"
    widget.attrs["class"] = css
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}-hint")
    if field.errors:
        described.append(f"{field.auto_id}-error")
    if described:
        widget.attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        widget.attrs["aria-invalid"] = "true"
    return field
