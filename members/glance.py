"""The member at a glance: the sections of a member's admin page that other apps fill.

The member page lives in the registry (the lowest layer), but most of what a clerk needs about a member
is kept above it: accounts, bills and usage (accounts), Red Flags items and holds (redflags), consents
and releases (disclosures), retention holds (retention), correction requests (portal). Each of those
apps registers a ``GlancePanel`` here from its ``AppConfig.ready``, the way staff tools are registered
(members/staff_tools.py): the registry imports none of them, and each panel is built by its own app's
selectors, in one or two queries, and shown only to a user holding the panel's permission.

A panel returns a ``GlanceSection`` of display strings: no identifier is ever put in one (the page is
masked; reveals are separate and recorded).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.utils.safestring import SafeString


@dataclass
class GlanceSection:
    title: str
    columns: Sequence[str] = ()
    # Each cell is a string, or (text, url) for a link.
    rows: Sequence[Sequence] = ()
    empty: str = "None."
    note: str = ""
    # Server-rendered markup built with format_html (the usage sparkline).
    figure: SafeString | str = ""
    link: tuple[str, str] | None = None  # (label, url) under the table
    alert: bool = False  # shown with the admin's warning style (open Red Flags, holds)
    wide: bool = False  # spans the page's width (tables of many columns)

    def table(self) -> list[list[dict[str, str]]]:
        """The rows as cells of ``{"text", "url"}`` for the template."""
        return [
            [
                {"text": str(cell[0]), "url": str(cell[1])}
                if isinstance(cell, tuple)
                else {"text": str(cell), "url": ""}
                for cell in row
            ]
            for row in self.rows
        ]


@dataclass(frozen=True)
class GlancePanel:
    key: str
    order: int
    permission: str
    build: Callable[..., GlanceSection | None] = field(compare=False)


PANELS: list[GlancePanel] = []


def register(*panels: GlancePanel) -> None:
    for panel in panels:
        if all(existing.key != panel.key for existing in PANELS):
            PANELS.append(panel)
    PANELS.sort(key=lambda panel: panel.order)


def sections_for(*, member, user) -> list[GlanceSection]:
    """The sections ``user`` may see about ``member``, in the panels' order."""
    sections = []
    for panel in PANELS:
        if not user.has_perm(panel.permission):
            continue
        section = panel.build(member=member, user=user)
        if section is not None:
            sections.append(section)
    return sections


def sparkline(values: Sequence[float], *, labels: Sequence[str] = (), width: int = 240, height: int = 40) -> str:
    """An inline SVG line of ``values`` (drawn server-side: no script), with a text alternative."""
    from django.utils.html import format_html

    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - 2 - (value / top) * (height - 4):.1f}" for index, value in enumerate(values)
    )
    summary = ", ".join(
        f"{label}: {value:,.0f} kWh" for label, value in zip(labels or [""] * len(values), values, strict=False)
    )
    return format_html(
        '<svg class="glance-sparkline" width="{}" height="{}" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="2" points="{}"/></svg>',
        width,
        height,
        width,
        height,
        f"Monthly usage: {summary}",
        points,
    )
