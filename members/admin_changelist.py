"""The member list page's fast parts: a paginator that estimates the whole registry instead of counting
it, and the result rows built in one pass.

Why: at 100,000 members ``COUNT(*)`` scans the table on every page view, and Django's ``result_list``
tag does a field lookup, a URL ``reverse`` and ``resolve`` for every row and a ``format_html`` and a
template variable per cell, which was most of the page's time at 100 rows. tests/registry/
test_admin_member_list.py compares the markup with Django's own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.templatetags.admin_list import ResultList, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_field, display_for_value, quote
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import EmptyPage, Paginator
from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from members.selectors import member_count_estimate


class MemberPaginator(Paginator):
    """Counts exactly, except the whole (unfiltered, unsearched) list of a large registry.

    ``COUNT(*)`` over every member scans the whole table on every page view (tens of milliseconds at
    100,000 members, more while the table holds dead rows after an import or key rotation). For the
    unfiltered list the count is PostgreSQL's estimate instead (members.selectors.member_count_estimate)
    and the page says "about"; any filter or search is counted exactly.
    """

    estimate_from = 20_000
    count_is_estimate = False

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and not query.distinct and not query.is_sliced:
            estimate = member_count_estimate()
            if estimate is not None and estimate >= self.estimate_from:
                self.count_is_estimate = True
                return estimate
        return self.object_list.count()

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except EmptyPage:
            # An estimate can be a little low: the pages after its last one still open (or come back empty).
            if self.count_is_estimate and int(number) > 1:
                return int(number)
            raise


class CappedCountPaginator(Paginator):
    """Counts up to ``cap`` rows and no further: ``SELECT count(*) FROM (... LIMIT cap + 1)``.

    A work list (the Red Flags case inbox) is read from its first pages, soonest due first; counting
    all 45,000 open cases of an inbox on every view was a scan of the table (PostgreSQL reads a
    partial index only when few rows match) and the largest query of the page. Past the cap the page
    says "more than"; the pages after the cap still open.
    """

    cap = 1_000
    count_is_capped = False

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if not hasattr(object_list, "query"):
            return len(object_list)
        counted = object_list.order_by()[: self.cap + 1].count()
        if counted > self.cap:
            self.count_is_capped = True
            return self.cap
        return counted

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except EmptyPage:
            if self.count_is_capped and int(number) > 1:
                return int(number)
            raise


class DirectActionCheckbox:
    """ModelAdmin mixin: the action checkbox of each row built directly.

    Django's version renders a CheckboxInput through the form template engine for every row (a third
    of a list page's rendering time at 100 rows); this is the same markup.
    """

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj) -> str:
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )


_PK_PLACEHOLDER = "__member_pk__"


@dataclass(frozen=True)
class _Column:
    name: str
    css: str  # the cell's class
    field: models.Field | None  # the model field shown, or None for a ModelAdmin method
    method: Any  # that method
    empty: str  # what an empty value shows
    link: bool  # the cell links to the record
    # For a field with choices: its labels (what display_for_field shows); else None. Other kinds of field
    # than text and choices go through display_for_field itself.
    choices: dict | None = None
    text: bool = False  # a plain text field: display_for_field shows the value itself, or ``empty``


# Fields display_for_field shows as their value (``str``) or the empty marker: text without choices.
_TEXT_FIELDS = (models.CharField, models.TextField)
_NOT_TEXT = (models.URLField, models.FileField, models.FilePathField)


def _display_kind(field: models.Field | None) -> dict:
    """How a field column is shown without display_for_field's chain of isinstance tests (the same result)."""
    if field is None:
        return {}
    flatchoices = getattr(field, "flatchoices", None)
    if flatchoices:
        try:
            return {"choices": dict(flatchoices)}
        except TypeError:  # unhashable (list-like) choices: display_for_field handles them
            return {}
    if isinstance(field, _TEXT_FIELDS) and not isinstance(field, _NOT_TEXT):
        return {"text": True}
    return {}


def _columns(changelist) -> list[_Column] | None:
    """The list's columns, or ``None`` when one is a kind this module leaves to Django (a relation, an
    auto-created field, a callable that is not a ModelAdmin method, more than one link)."""
    model_admin, opts = changelist.model_admin, changelist.opts
    empty_value_display = model_admin.get_empty_value_display()
    links = changelist.list_display_links
    columns: list[_Column] = []
    for name in changelist.list_display:
        if not isinstance(name, str):
            return None
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is not None and (field.is_relation or (field.auto_created and not field.primary_key)):
            return None  # Django's own path handles relations and auto-created fields (an automatic id is plain)
        method = None if field is not None else getattr(model_admin, name, None)
        if field is None and not callable(method):
            return None
        css = "action-checkbox" if name == "action_checkbox" else f"field-{name}"
        if field is not None and isinstance(field, (models.DateField, models.TimeField)):
            css += " nowrap"
        link = links is not None and (name in links or (not links and not columns))
        empty = getattr(method, "empty_value_display", empty_value_display)
        columns.append(_Column(name, css, field, method, empty, link, **_display_kind(field)))
    return columns if sum(1 for column in columns if column.link) <= 1 else None


def _change_url_parts(changelist) -> tuple[str, str] | None:
    """The escaped change URL around a row's primary key (with the list's filters preserved)."""
    opts, model_admin = changelist.opts, changelist.model_admin
    change_url = reverse(
        f"admin:{opts.app_label}_{opts.model_name}_change",
        args=(_PK_PLACEHOLDER,),
        current_app=model_admin.admin_site.name,
    )
    change_url = escape(
        add_preserved_filters({"preserved_filters": changelist.preserved_filters, "opts": opts}, change_url)
    )
    if change_url.count(_PK_PLACEHOLDER) != 1:
        return None
    before, after = change_url.split(_PK_PLACEHOLDER)
    return before, after


def _cell(result, column: _Column, url: tuple[str, str]) -> str:
    css = column.css
    if column.field is not None:
        value = getattr(result, column.name)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        if column.choices is not None:  # as display_for_field shows a field with choices
            shown = column.choices.get(value, column.empty)
        elif column.text:  # as display_for_field shows plain text
            shown = column.empty if value is None or value == "" else value
        else:
            shown = display_for_field(value, column.field, column.empty, avoid_link=column.link)
    else:
        value = column.method(result)
        if isinstance(value, str) and value.strip() == "":
            value = ""
        shown = display_for_value(value, column.empty, getattr(column.method, "boolean", False))
        if isinstance(value, (datetime.date, datetime.time)):
            css = f"{css} nowrap"
    shown = conditional_escape(shown)
    if column.link:
        return f'<th class="{css}"><a href="{url[0]}{escape(quote(result.pk))}{url[1]}">{shown}</a></th>'
    return f'<td class="{css}">{shown}</td>'


def result_list_context(changelist) -> dict | None:
    """What the ``{% result_list %}`` tag gives ``admin/change_list_results.html``, built row by row in
    one pass: the same markup as Django's ``items_for_result``, without its per-cell work.

    ``None`` for the cases this does not cover (inline editing, popups, ``to_field``, columns of other
    kinds): the template then uses Django's tag.
    """
    if changelist.formset is not None or changelist.is_popup or changelist.to_field:
        return None
    columns = _columns(changelist)
    url = _change_url_parts(changelist) if columns is not None else None
    if columns is None or url is None:
        return None
    # Every value went through conditional_escape/escape in _cell; the rest is literal markup.
    rows = [
        ResultList(None, [mark_safe("".join([_cell(result, column, url) for column in columns]))])  # noqa: S308
        for result in changelist.result_list
    ]
    headers = list(result_headers(changelist))
    return {
        "cl": changelist,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": rows,
    }
