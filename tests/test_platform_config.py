from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from config import checks
from config.env import env_bool, env_int, env_list, env_required, env_str

STRONG_SECRET = "s" * 10 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
STRONG_FERNET = "f-0123456789abcdefghijklmnopqrstuvwxyz"
STRONG_INDEX = "i-0123456789abcdefghijklmnopqrstuvwxyz"
STRONG_CHAIN = "c-0123456789abcdefghijklmnopqrstuvwxyz"
GOOD_KEYS = {
    "SECRET_KEY": STRONG_SECRET,
    "FERNET_KEYS": [STRONG_FERNET],
    "BLIND_INDEX_KEY": STRONG_INDEX,
    "DISCLOSURE_CHAIN_KEY": STRONG_CHAIN,
}


def test_env_bool_rejects_a_value_that_is_not_a_boolean(monkeypatch):
    monkeypatch.setenv("MG_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="MG_FLAG"):
        env_bool("MG_FLAG")


def test_env_int_names_the_variable_when_malformed(monkeypatch):
    monkeypatch.setenv("MG_NUMBER", "twelve")
    with pytest.raises(ImproperlyConfigured, match="MG_NUMBER"):
        env_int("MG_NUMBER", 1)


def test_env_required_fails_loudly_when_unset(monkeypatch):
    monkeypatch.delenv("MG_MISSING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="MG_MISSING must be set"):
        env_required("MG_MISSING")


def test_secrets_can_be_read_from_a_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("MG_SECRET_FILE", str(secret_file))
    assert env_str("MG_SECRET") == "from-a-file"


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("MG_LIST", " new-key , old-key ,")
    assert env_list("MG_LIST") == ["new-key", "old-key"]


@override_settings(**GOOD_KEYS)
def test_good_keys_raise_no_problem():
    assert checks.key_problems() == []


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY is weak"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is weak"),
        ({"FERNET_KEYS": []}, "FERNET_KEYS is not set"),
        ({"FERNET_KEYS": [STRONG_SECRET]}, "FERNET_KEYS entry 1 equals SECRET_KEY"),
        ({"FERNET_KEYS": [STRONG_FERNET, "weak"]}, "FERNET_KEYS entry 2 is weak"),
        ({"BLIND_INDEX_KEY": ""}, "BLIND_INDEX_KEY is not set"),
        ({"BLIND_INDEX_KEY": STRONG_SECRET}, "BLIND_INDEX_KEY equals SECRET_KEY"),
        ({"BLIND_INDEX_KEY": STRONG_FERNET}, "BLIND_INDEX_KEY equals a FERNET_KEYS entry"),
        ({"DISCLOSURE_CHAIN_KEY": ""}, "DISCLOSURE_CHAIN_KEY is not set"),
        ({"DISCLOSURE_CHAIN_KEY": "short"}, "DISCLOSURE_CHAIN_KEY is weak"),
        ({"DISCLOSURE_CHAIN_KEY": STRONG_INDEX}, "DISCLOSURE_CHAIN_KEY equals another key"),
    ],
)
def test_each_bad_key_is_reported_by_name(overrides, variable):
    values = {**GOOD_KEYS, **overrides}
    with override_settings(**values):
        problems = checks.key_problems()
    assert any(variable in problem for problem in problems), problems


@override_settings(**{**GOOD_KEYS, "DEBUG": False, "SECRET_KEY": ""})
def test_with_debug_off_a_missing_secret_is_an_error_that_stops_start_up():
    errors = checks.check_keys()
    assert errors and all(error.is_serious() for error in errors)
    with pytest.raises(SystemExit, match="SECRET_KEY is not set"):
        checks.fail_fast()


@override_settings(**{**GOOD_KEYS, "DEBUG": True, "SECRET_KEY": ""})
def test_with_debug_on_the_same_problem_is_only_a_warning():
    errors = checks.check_keys()
    assert errors and not any(error.is_serious() for error in errors)
    checks.fail_fast()  # does not raise in development


def test_the_database_is_postgresql_never_sqlite():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def test_passwords_are_hashed_with_argon2(make_user):
    user = make_user("hash-check")
    assert user.password.startswith("argon2")


# --- Issue 11 item 6: .env.example's placeholders and low-entropy keys are refused -------------------


def _env_example() -> dict[str, str]:
    from pathlib import Path

    text = (Path(settings.BASE_DIR) / ".env.example").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.mark.parametrize("variable", ["FERNET_KEYS", "BLIND_INDEX_KEY", "DISCLOSURE_CHAIN_KEY", "SECRET_KEY"])
def test_the_placeholders_of_env_example_are_refused(variable):
    value = _env_example()[variable]
    overrides = {variable: [value] if variable == "FERNET_KEYS" else value}
    with override_settings(**{**GOOD_KEYS, **overrides}):
        problems = checks.key_problems()
    assert any(problem.startswith(variable) and "placeholder" in problem for problem in problems), problems


@pytest.mark.parametrize(
    "value",
    [
        "abcdefgh" * 5,  # long enough, eight distinct characters, but a pattern
        "change-me-to-" + "0123456789abcdefghijklmnop",  # high entropy, still a placeholder
        "0123456789" * 4,
        "aaaaaaaabbbbbbbbccccccccddddddddeeeeeeeeffffffffgggggggghhhhhhhh",
    ],
)
def test_low_entropy_or_placeholder_keys_are_refused(value):
    with override_settings(**{**GOOD_KEYS, "BLIND_INDEX_KEY": value}):
        assert any(problem.startswith("BLIND_INDEX_KEY is weak") for problem in checks.key_problems())


def test_generated_keys_of_the_minimum_length_pass():
    import secrets

    for _ in range(200):
        assert not checks._weak(secrets.token_urlsafe(24), checks.MIN_KEY_LENGTH)


def test_check_deploy_refuses_env_example_as_it_is(monkeypatch):
    """`manage.py check --deploy` with .env.example's keys: a serious error naming each key."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    env = _env_example()
    keys = {
        "SECRET_KEY": env["SECRET_KEY"],
        "FERNET_KEYS": [env["FERNET_KEYS"]],
        "BLIND_INDEX_KEY": env["BLIND_INDEX_KEY"],
        "DISCLOSURE_CHAIN_KEY": env["DISCLOSURE_CHAIN_KEY"],
    }
    with override_settings(DEBUG=False, **keys), pytest.raises(SystemCheckError) as raised:
        call_command("check", "--deploy", "--tag", "memberguard")
    for variable in ("FERNET_KEYS", "BLIND_INDEX_KEY", "DISCLOSURE_CHAIN_KEY"):
        assert variable in str(raised.value)
