from __future__ import annotations

from django import template

from disclosures import labels

register = template.Library()

register.filter("categories_label", labels.categories_label)
register.filter("basis_kind_label", labels.basis_kind_label)
register.filter("reference_label", labels.reference_label)
