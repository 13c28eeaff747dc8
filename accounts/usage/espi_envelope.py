"""The Atom envelope of a Green Button file, read tolerantly (docs/usage.md, "Green Button files").

Producers older than the ESPI 3.3 Atom profile (the Green Button Alliance's own samples among them)
leave out things the profile requires or add things it does not know. None of them changes what the
energy data says, so each is accepted and recorded as a warning with its line:

- a ``<link>`` without ``type`` or with an empty one (RFC 4287 makes it optional; the profile requires it): the type is
  filled in from the link's relation so the strict schema can check everything else;
- ESPI 1.x URL patterns (relative ``/espi/1_1/resource/...`` hrefs): links are matched as written;
- an entry (or the feed) without ``published`` / ``updated``;
- processing instructions (``<?xml-stylesheet?>``) and comments: ignored.

Everything else is left to the strict schema and to the reader's own checks.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from accounts.usage.espi import ATOM

Warn = Callable[[int, str], None]

_PUBLISHED, _UPDATED = f"{ATOM}published", f"{ATOM}updated"


_A = {"a": "http://www.w3.org/2005/Atom"}
# Whole-document queries in C: a Green Button day for 10,000 meters has 55,000 entries.
# Links where the Atom profile puts them (the feed's and its entries'), so the search does not descend
# into 300,000 readings' worth of content; a link anywhere else fails the strict schema whatever its type.
_X_UNTYPED = etree.XPath(
    "a:link[not(@type) or normalize-space(@type) = ''] | a:entry/a:link[not(@type) or normalize-space(@type) = '']",
    namespaces=_A,
)
_X_UNSTAMPED = etree.XPath("a:entry[not(a:published) or not(a:updated)]", namespaces=_A)
_X_RELATIVE_SELF = etree.XPath("a:entry/a:link[@rel = 'self'][not(contains(@href, '://'))]", namespaces=_A)


def tolerate(root, warn: Warn) -> None:
    """Record the envelope's deviations as warnings and fill in missing link types (in place)."""
    _outside_nodes(root, warn)
    for node in root.iter(etree.Comment, etree.ProcessingInstruction):
        _ignored_node(node, warn)
    for link in _X_UNTYPED(root):
        given = link.get("type")
        rel = link.get("rel", "")
        link.set("type", _inferred_type(rel, link.get("href") or ""))
        problem = "no type attribute" if given is None else "an empty type attribute"
        warn(link.sourceline, f"link rel={rel!r} has {problem} (the ESPI 3.3 Atom profile requires one)")
    if root.find(_UPDATED) is None:
        warn(root.sourceline, "the feed has no <updated>")
    for entry in _X_UNSTAMPED(root):
        missing = [name for name, tag in (("published", _PUBLISHED), ("updated", _UPDATED)) if entry.find(tag) is None]
        warn(entry.sourceline, f"entry has no <{'> or <'.join(missing)}>")
    for link in _X_RELATIVE_SELF(root):
        warn(link.sourceline, "ESPI 1.x URL pattern (a relative href); links are matched as written")


def _outside_nodes(root, warn: Warn) -> None:
    for node in reversed(list(root.itersiblings(preceding=True))):
        _ignored_node(node, warn)
    for node in root.itersiblings():
        _ignored_node(node, warn)


def _ignored_node(node, warn: Warn) -> None:
    if isinstance(node, etree._ProcessingInstruction):  # noqa: SLF001  (lxml's public node class name)
        warn(node.sourceline or 1, f"processing instruction <?{node.target}?> ignored")
    elif isinstance(node, etree._Comment):  # noqa: SLF001
        warn(node.sourceline or 1, "comment ignored")


def _inferred_type(rel: str, href: str) -> str:
    """The type an ESPI 3.3 producer would have written: espi-entry/<Resource> for self, espi-feed/<Resource> else."""
    segments = [segment for segment in href.split("/") if segment]
    resource = next((s for s in reversed(segments) if s[:1].isupper() and s.isalpha()), "Resource")
    return f"espi-{'entry' if rel == 'self' else 'feed'}/{resource}"
