"""The one declaration of sensitive fields (members/identifiers.py) against the models, and what derives
from it: every encrypted field of every installed model is declared, every declared column exists with
the type its role needs, and a newly declared field reaches the import, the list pages' deferred
columns, the purges, the reveals and the staff inputs without a change anywhere else."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.db import models
from fernet_fields.fields import EncryptedField

from accounts import bulk_load as accounts_bulk
from accounts.cis_import import cleaning
from accounts.cis_import.columns import Record, build_sections, column_names
from disclosures.models import DataCategory
from members import api, checks, crypto, identifiers, masking, rotation, selectors, services, validation
from members.bulk_load import MEMBER_COLUMNS, DeclaredColumns
from members.identifiers import Kind, Mask, SensitiveField, Storage
from members.registry_admin import IDENTIFIER_INPUTS, MemberAdmin
from retention import handlers as retention_services
from retention.models import Category

FORMER = "former_member_identifiers"


def _model_field(label: str, name: str) -> models.Field:
    return apps.get_model(label)._meta.get_field(name)


def test_every_encrypted_field_of_every_installed_model_is_declared_and_nothing_else_is_declared_encrypted():
    encrypted_in_models = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedField)
    }
    declared = {(field.model.lower(), field.name) for field in identifiers.FIELDS if field.encrypted}
    assert declared == encrypted_in_models
    for field in identifiers.FIELDS:
        assert isinstance(_model_field(field.model, field.name), EncryptedField) == field.encrypted, field.name
    assert checks.declaration_problems() == []


def test_every_declared_index_and_last_four_column_exists_with_the_right_type_and_sources():
    for index in identifiers.BLIND_INDEXES:
        column = _model_field(index.model, index.column)
        assert isinstance(column, models.CharField) and not isinstance(column, EncryptedField), index.column
        assert column.max_length >= crypto.BLIND_INDEX_HEX_LENGTH
        crypto.index_domain(index.kind)  # a kind the crypto module indexes
        for source in index.sources:
            assert _model_field(index.model, source).column == source
        assert set(index.required) <= set(index.sources)
    for field in identifiers.FIELDS:
        if field.index:
            assert field.name in identifiers.index_named(field.model, field.index).sources
        if field.last_four:
            last_four = _model_field(field.model, field.last_four)
            assert isinstance(last_four, models.CharField) and last_four.max_length == 4
    declared = {(index.model.lower(), index.column) for index in identifiers.BLIND_INDEXES}
    in_models = {
        (model._meta.label_lower, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.name.endswith("_index")
    }
    assert in_models == declared


@pytest.mark.django_db
def test_categories_masks_and_permissions_named_in_the_declaration_are_real():
    for field in identifiers.FIELDS:
        if field.data_category:
            assert field.data_category in DataCategory.values, field.name
        assert set(field.retention) <= set(Category.values), field.name
        if field.reveal_permission:
            app_label, codename = field.reveal_permission.split(".")
            assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()
        if field.encrypted and field.clean is not None:
            assert field.clean.__module__ == validation.__name__
    assert set(masking.MASK_RULES) == set(Mask)


def test_the_export_categories_come_out_in_the_exports_column_order():
    assert identifiers.fields_in_data_category("A2_billing") == (
        "ssn",
        "tin",
        "date_of_birth",
        "credit_notes",
        "deposit_required",
    )
    assert identifiers.fields_in_data_category("A1_contact") == (
        "legal_name",
        "mailing_line1",
        "mailing_line2",
        "mailing_city",
        "mailing_state",
        "mailing_postal_code",
        "phone",
        "phone_extension",
        "email",
    )


def test_the_lists_the_code_uses_are_the_ones_derived_from_the_declaration():
    assert selectors.ENCRYPTED_MEMBER_FIELDS == identifiers.deferred("members.Member")
    assert (retention_services.IDENTIFIER_FIELDS, retention_services.IDENTIFIER_INDEX_FIELDS) == identifiers.redaction(
        FORMER
    )
    assert services.REVEALABLE_FIELDS == identifiers.revealable()
    assert cleaning.COLUMNS == column_names(build_sections())
    assert set(IDENTIFIER_INPUTS) == {field.name for field in identifiers.identifier_inputs()}
    for target in rotation.targets(with_indexes=True):
        model = apps.get_model(target.label)
        assert target.encrypted == identifiers.encrypted_names(model._meta.label)
        assert {ix.column for ix in (target.index.indexes if target.index else ())} == {
            ix.column for ix in identifiers.indexes_of(model._meta.label)
        }


def test_a_newly_declared_encrypted_field_reaches_import_copy_deferral_purge_reveal_and_inputs():
    new = SensitiveField(
        "members.Member",
        "medicare_number",
        "Medicare number",
        Kind.IDENTIFIER,
        Storage.ENCRYPTED,
        validation.clean_passport_number,
        import_column="medicare_number",
        retention=identifiers.PURGED_WITH_FORMER_AND_DENIED_MEMBERS,
        reveal_permission=identifiers.REVEAL_IDENTIFIERS,
    )
    extended = (*identifiers.FIELDS, new)

    spec = {column.name: column for section in build_sections(extended) for column in section.columns}
    assert spec["medicare_number"].record is Record.SECRETS and spec["medicare_number"].clean is new.clean
    assert "medicare_number" in DeclaredColumns("members.Member", extended).columns  # the COPY writes it
    assert "medicare_number" in DeclaredColumns("members.Member", extended).encrypted  # NULL when absent
    assert "medicare_number" in identifiers.deferred("members.Member", fields=extended)
    assert "medicare_number" in identifiers.redaction(FORMER, fields=extended)[0]
    assert identifiers.revealable(extended)["medicare_number"] == "members.reveal_identifiers"
    assert "medicare_number" in [field.name for field in identifiers.identifier_inputs(extended)]
    assert "medicare_number" in identifiers.encrypted_names("members.Member", extended)  # rotation's columns
    # ...and none of it is there without the declaration.
    assert "medicare_number" not in MEMBER_COLUMNS and "medicare_number" not in cleaning.COLUMNS


def test_the_admin_and_the_api_show_every_declared_identifier():
    fieldsets = dict(MemberAdmin.fieldsets)
    identifying = next(options["fields"] for title, options in fieldsets.items() if title and "Identifying" in title)
    assert identifying == tuple(field.name for field in identifiers.identifier_fields())
    assert set(api.MemberCreateInput().fields) >= set(IDENTIFIER_INPUTS)
    assert all(api.MemberCreateInput().fields[name].write_only for name in IDENTIFIER_INPUTS)
    assert set(api.MASKED_IDENTIFIERS) <= set(api.MemberOutput().fields)
    assert accounts_bulk.PREMISE_NULLABLE == frozenset(identifiers.encrypted_names("accounts.Premise"))


def test_the_blind_index_entry_points_share_one_recipe(settings):
    settings.BLIND_INDEX_KEY = "a-test-index-key-that-is-long-enough-0123456789"
    indexer = crypto.canonical_indexer()
    assert crypto.blind_index("ssn", "215-44-3821") == indexer("tax_id", "215443821")
    assert indexer.for_kind("tax_id")("215443821") == crypto.blind_index("tin", "21-5443821")
    assert crypto.blind_index_or_empty("passport", "") == "" == crypto.blind_index_if_valid("ssn", "not a number")
    with pytest.raises(crypto.CanonicalisationError):
        crypto.blind_index_or_empty("ssn", "not a number")
    licence = crypto.cleaned_canonical("licence", ("D12345678", "IL"))
    assert indexer("licence", licence) == crypto.blind_index("licence", ("d1234-5678", "il"))
