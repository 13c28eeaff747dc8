"""Encrypted model fields: ``fernet_fields`` with the registry's keyring and a loud failure mode.

Two changes to the stock fields, both about keys:

* the keyring comes from ``members.crypto.fernet()`` (``FERNET_KEYS``, never ``SECRET_KEY``), looked up
  per use, so key rotation and tests that change keys see the configured keys;
* a stored value that no configured key can decrypt raises ``UndecryptableValue`` naming the model and
  field. It is never returned as data (no placeholder a form could save back) and so can never be
  re-encrypted under a new key as if it were the real value.
"""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.utils.encoding import force_bytes, force_str
from fernet_fields import fields as fernet_fields

from members import crypto


class UndecryptableValue(Exception):
    """A stored ciphertext could not be decrypted with any configured FERNET_KEYS entry."""

    def __init__(self, label: str):
        self.label = label
        super().__init__(
            f"{label} cannot be decrypted with the configured FERNET_KEYS (wrong or missing key). "
            "The value is not shown and must not be re-saved; restore the key that encrypted it."
        )


class _RegistryEncryptedMixin:
    @property
    def fernet(self):  # overrides the stock cached_property
        return crypto.fernet()

    def get_db_prep_save(self, value, connection):
        value = super(fernet_fields.EncryptedField, self).get_db_prep_save(value, connection)
        if value is None or value == "":
            # Empty stays NULL: an encrypted empty string would still reveal "no value" and wastes work.
            return None
        return connection.Database.Binary(self.fernet.encrypt(force_bytes(value)))

    def from_db_value(self, value, expression, connection, *args):
        if value is None:
            return None
        try:
            plain = self.fernet.decrypt(bytes(value))
        except InvalidToken:
            raise UndecryptableValue(f"{self.model._meta.label}.{self.name}") from None
        return self.to_python(force_str(plain))


class EncryptedCharField(_RegistryEncryptedMixin, fernet_fields.EncryptedCharField):
    pass


class EncryptedTextField(_RegistryEncryptedMixin, fernet_fields.EncryptedTextField):
    pass


class EncryptedDateField(_RegistryEncryptedMixin, fernet_fields.EncryptedDateField):
    pass
