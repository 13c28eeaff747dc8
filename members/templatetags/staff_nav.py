"""``{% staff_nav_sidebar %}``: the admin's navigation sidebar, rendered once per permission set and
current link (members/admin_nav.py), in place of ``{% include "admin/nav_sidebar.html" %}``."""

from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from members.admin_nav import cached_sidebar

register = template.Library()


@register.simple_tag(takes_context=True)
def staff_nav_sidebar(context) -> str:
    sidebar = context.template.engine.get_template("admin/nav_sidebar.html")
    # The template's own output (escaped as it rendered), cached as rendered.
    return mark_safe(cached_sidebar(context, lambda: sidebar.render(context)))  # noqa: S308
