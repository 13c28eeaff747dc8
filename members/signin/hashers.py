"""The password hasher: Argon2id with OWASP's recommended parameters (docs/configuration.md).

Django's ``Argon2PasswordHasher`` defaults to ``memory_cost`` 102,400 KiB and ``parallelism`` 8: about
200 ms of CPU per hash on this project's two-core machines, and eight threads that a two-core box
cannot run at once, so one sign-in took over a second under load and a handful of concurrent sign-ins
saturated the host. OWASP's Password Storage Cheat Sheet lists equivalent Argon2id settings; the first,
m=19 MiB, t=2, p=1, costs about 27 ms of CPU and 19 MiB per hash here and is what this class sets.

The algorithm name stays ``argon2`` and the encoded hash carries its own parameters, so hashes made
with Django's defaults still verify, and ``must_update`` sees their different parameters: the next
successful sign-in re-hashes the password with these (Django's ``check_password`` setter).
"""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2idHasher(Argon2PasswordHasher):
    """Argon2id, m=19,456 KiB, t=2, p=1 (OWASP Password Storage Cheat Sheet, Argon2id, first option)."""

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
