"""The staff admin's navigation (the sidebar's list of models and the index page's), built once per set of
permissions instead of on every page.

Why: Django's ``AdminSite.each_context`` builds the list of every registered model the user may see on
each admin page (a ``has_module_permission`` and four ``has_*_permission`` calls and two URL reversals
per model), and ``admin/nav_sidebar.html`` renders it again: together about a quarter of a staff list
page's server time (docs/benchmarks.md, "Staff pages at 100/s").

What the list holds depends only on who may do what: every ModelAdmin here decides its permissions with
``user.has_perm`` (docs/architecture.md), and ``has_perm`` depends on ``is_active``, ``is_superuser`` and
the user's permission set. The cache key is exactly those, so a role granted or removed changes the key
and shows at the next request (tests/registry/test_admin_nav_cache.py). Entries also expire after
``TTL_SECONDS`` and the cache is per process and bounded. The rendered sidebar is cached the same way,
keyed also by which of its links the current page is (the "current" marks depend on the path).
"""

from __future__ import annotations

import time
from typing import Any

from django.template.defaultfilters import urlencode
from django.utils.translation import get_language

TTL_SECONDS = 300
MAX_ENTRIES = 256

_app_lists: dict[tuple, tuple[float, list[dict]]] = {}
_sidebars: dict[tuple, tuple[float, str]] = {}


class AppList(list):
    """The app list of one permission set; ``cache_key`` names it for the rendered sidebar's cache."""

    cache_key: tuple | None = None


def permission_key(user) -> tuple | None:
    """What the app list depends on for ``user``; ``None`` when it is not a signed-in user (not cached)."""
    if not getattr(user, "is_authenticated", False):
        return None
    permissions = frozenset(user.get_all_permissions()) if user.is_active else frozenset()
    return (bool(user.is_active), bool(user.is_superuser), bool(user.is_staff), permissions, get_language())


def _get(cache: dict, key: tuple) -> Any:
    entry = cache.get(key)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def _put(cache: dict, key: tuple, value: Any) -> None:
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    cache[key] = (time.monotonic() + TTL_SECONDS, value)


def _copy(app_list: list[dict], key: tuple) -> AppList:
    """A copy a caller may change without changing the cached list."""
    copied = AppList({**app, "models": [dict(model) for model in app["models"]]} for app in app_list)
    copied.cache_key = key
    return copied


def cached_app_list(site, request, app_label: str | None, build) -> list[dict]:
    """``build(request, app_label)`` (Django's ``get_app_list``), once per permission set and site."""
    key = permission_key(getattr(request, "user", None))
    if key is None:
        return build(request, app_label)
    key = (site.name, app_label, *key)
    app_list = _get(_app_lists, key)
    if app_list is None:
        app_list = build(request, app_label)
        _put(_app_lists, key, app_list)
    return _copy(app_list, key)


def _current_links(app_list: list[dict], path: str) -> tuple[str, ...]:
    """The links ``admin/app_list.html`` marks as current for ``path`` (the same ``in`` test it makes)."""
    path = urlencode(path)
    links = []
    for app in app_list:
        links += [url for url in (app.get("app_url"), *(m.get("admin_url") for m in app["models"])) if url]
    return tuple(url for url in links if url in path)


def cached_sidebar(context, render) -> str:
    """The sidebar's HTML: ``render()`` once per app list (permission set) and current link."""
    app_list = context.get("available_apps")
    request = context.get("request")
    key = getattr(app_list, "cache_key", None)
    if key is None or request is None:
        return render()
    key = (key, _current_links(app_list, request.path))
    html = _get(_sidebars, key)
    if html is None:
        html = render()
        _put(_sidebars, key, html)
    return html


def clear() -> None:
    """Forget every cached list and sidebar (tests)."""
    _app_lists.clear()
    _sidebars.clear()
