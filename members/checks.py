"""System check: the declaration of sensitive fields (members/identifiers.py) matches the models.

Key rotation, the purges and the list pages' deferred columns all take their columns from the
declaration, so an encrypted field missing from it would stay under a retired key, outlive its
retention schedule and be decrypted on every list page. This check refuses to start (``manage.py
check``, and every ``runserver``/``migrate``) with one; tests/registry/test_identifiers.py holds the
finer checks of types and categories.
"""

from __future__ import annotations

from django.apps import apps
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from fernet_fields.fields import EncryptedField

from members import identifiers


def declaration_problems() -> list[str]:
    """Every encrypted model field not declared, and every declared field or index column not found."""
    problems = []
    declared = {(field.model.lower(), field.name) for field in identifiers.FIELDS if field.encrypted}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedField) and (model._meta.label_lower, field.name) not in declared:
                problems.append(
                    f"{model._meta.label}.{field.name} is encrypted but not declared in members/identifiers.py"
                )
    columns = [(field.model, field.name) for field in identifiers.FIELDS]
    columns += [(index.model, index.column) for index in identifiers.BLIND_INDEXES]
    for label, name in columns:
        try:
            apps.get_model(label)._meta.get_field(name)
        except (LookupError, FieldDoesNotExist):
            problems.append(f"{label}.{name} is declared in members/identifiers.py but does not exist")
    return problems


@checks.register("memberguard")
def check_declaration(app_configs=None, **kwargs):
    return [checks.Error(problem, id="memberguard.E101") for problem in declaration_problems()]
