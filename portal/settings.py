"""Token Portal settings, all driven by the environment (docs/configuration.md).

Defaults are for development on one machine: SQLite, an embedded broker, local-memory
cache. DJANGO_ENV=production removes every default that would be unsafe there.
"""

import hashlib
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from portal.environment import env, env_bool
from portal.logs import json_formatter

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "static").mkdir(exist_ok=True)

ENVIRONMENT = env.str("DJANGO_ENV", default="development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured("DJANGO_ENV must be development, test or production.")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG cannot be on with DJANGO_ENV=production.")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) is required in production.")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "accounts.apps.StaffAdminConfig",  # django.contrib.admin with a site that demands MFA
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",  # its templates, for FORM_RENDERER below
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "allauth.usersessions",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files (no CDN)
    "csp",
    "django_celery_beat",
    "hijack",
    "portal",
    "accounts",
    "projects",
    "notifications",
    "billing",
    "relay",
    "exports",
]

MIDDLEWARE = [
    "portal.metrics.RequestMetricsMiddleware",
    "portal.request_id.RequestIdMiddleware",
    "portal.middleware.InputGuardMiddleware",  # no NUL in; allauth headless' JSON bounded
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "hijack.middleware.HijackUserMiddleware",  # request.user.is_hijacked
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "accounts.middleware.OrganizationMFAMiddleware",
    "accounts.hijack.ReadOnlyWhileHijackedMiddleware",
]

# Staff view the portal as a customer's member (accounts/hijack.py): who may, and the banner
# is rendered by templates/base.html rather than injected.
HIJACK_PERMISSION_CHECK = "accounts.hijack.may_hijack"
HIJACK_INSERT_BEFORE = None
ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.tenancy.membership_context",
                "notifications.services.notification_context",
            ],
        },
    },
]

# Forms render with the templates above, so templates/django/forms/ can mark required fields.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Web, worker and beat share the file: wait for locks, take the write lock up front.
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that a Celery worker process started by a test sees it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Cache ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_CACHE_OPTIONS = {
    "SOCKET_CONNECT_TIMEOUT": 2,
    "SOCKET_TIMEOUT": 2,
    "CONNECTION_FACTORY": "portal.cache.SharedClientConnectionFactory",
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication -------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if ENVIRONMENT == "test":
    # Tests create hundreds of users; the real hasher is exercised by one test of its own.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# Verification by a code typed in the same session: with links, allauth refuses to add or
# change the address of an account that has MFA, and members of an organization that
# requires MFA could then never change it.
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
ACCOUNT_CHANGE_EMAIL = True  # one address per user: a verified new one replaces the old
ACCOUNT_EMAIL_NOTIFICATIONS = True  # tell users when their password, email or MFA changes
ACCOUNT_EMAIL_SUBJECT_PREFIX = _("[Token Portal] ")
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# ACCOUNT_RATE_LIMITS: allauth's defaults (login, failed logins, sign-up, password reset).
# Second factors: an authenticator app, security keys (WebAuthn / FIDO2) and recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
# A security key is a second factor only: no passwordless sign-in or sign-up with a passkey
# (docs/accounts.md). The origin is always verified: browsers offer WebAuthn
# only on https:// and http://localhost, which is what allauth (python-fido2) accepts, so
# MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN stays off everywhere, tests included.
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_PASSKEY_SIGNUP_ENABLED = False
MFA_FORMS = {  # allauth's, with translated labels
    "add_webauthn": "accounts.forms.AddSecurityKeyForm",
    "edit_webauthn": "accounts.forms.RenameSecurityKeyForm",
}
MFA_TOTP_ISSUER = "Token Portal"
# Accept the previous and next 30-second code too: phone clocks drift.
MFA_TOTP_TOLERANCE = 1
HEADLESS_CLIENTS = ("browser", "app")
HEADLESS_ADAPTER = "accounts.adapter.HeadlessAdapter"
# Email links of headless clients lead to the portal's own allauth pages (no
# HEADLESS_FRONTEND_URLS); the headless API's OpenAPI description is at /_allauth/openapi.html.
HEADLESS_SERVE_SPECIFICATION = True
# allauth's page loads Redoc from a CDN with an inline script; ours uses the local Swagger UI.
HEADLESS_SPECIFICATION_TEMPLATE_NAME = "portal/allauth_openapi.html"

# --- Internationalisation and time -----------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["portal.formats"]  # zh-Hans groups thousands with commas (portal/formats)
USE_I18N = True
USE_TZ = True
# Stored times are UTC; pages show and periods are cut in the business time zone.
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
BUSINESS_TIME_ZONE = env.str("BUSINESS_TIME_ZONE", default=TIME_ZONE)

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Organization data exports (exports/): ZIP files served only through the portal.
EXPORT_DIR = Path(env.str("EXPORT_DIR", default=str(VAR_DIR / "exports")))
EXPORT_RETENTION_DAYS = env.int("EXPORT_RETENTION_DAYS", default=7)
EXPORT_TIME_LIMIT_SECONDS = env.int("EXPORT_TIME_LIMIT_SECONDS", default=3600)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": EXPORT_DIR, "base_url": None},
    },
    # Issued 发票 files (billing.invoicing.fapiao_models): served only through the portal.
    "fapiao": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": Path(env.str("FAPIAO_DIR", default=str(VAR_DIR / "fapiao"))),
            "base_url": None,
        },
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production, serve straight from the source folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# --- Email ----------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Token Portal <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker: message files in a folder shared by web, worker and beat.
    _broker_dir = Path(env.str("EMBEDDED_BROKER_DIR", default=str(VAR_DIR / "broker")))
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        # Broadcast (pidbox) exchanges; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
# A task is acknowledged after it ran: a killed worker's task is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Tests run tasks in-process unless they start a real worker (tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", ENVIRONMENT == "test")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "portal.tasks.record_heartbeat", "schedule": 60.0},
    # Quotas, alerts and webhooks (billing.quotas.services, notifications.webhooks)
    "quota-counters": {
        "task": "billing.quotas.tasks.reconcile_quota_counters",
        "schedule": float(env.int("QUOTA_RECONCILE_SECONDS", default=30)),
    },
    "quota-period-resets": {
        "task": "billing.quotas.tasks.announce_quota_period_resets",
        "schedule": 300.0,
    },
    "webhook-retries": {"task": "notifications.tasks.send_due_webhooks", "schedule": 30.0},
    "usage-rollup": {"task": "billing.metering.tasks.roll_up_usage", "schedule": 60.0},
    "usage-purge": {"task": "billing.metering.tasks.purge_usage_events", "schedule": 86400.0},
    # Closes last month once its grace period is over, issues, sends due/overdue notices.
    "billing-day": {"task": "billing.invoicing.tasks.run_billing_day", "schedule": 3600.0},
    # Deletes the files of data exports past EXPORT_RETENTION_DAYS.
    "export-purge": {"task": "exports.tasks.purge_expired_exports", "schedule": 3600.0},
    # Online payments still open after 5 minutes are asked about; expired ones closed.
    "payment-check": {"task": "billing.payments.tasks.refresh_open_payments", "schedule": 300.0},
    "entitlements": {"task": "billing.packages.tasks.tend_entitlements", "schedule": 3600.0},
    # Plans: renewals and their fees, the month's allowance, renewal notices.
    "plans": {"task": "billing.packages.tasks.roll_plans", "schedule": 600.0},
    # The operator's consolidated bill: last month's settlement file, pushed until acked.
    "settlements": {
        "task": "billing.managed.tasks.settle_consolidated_billing",
        "schedule": 600.0,
    },
}

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # The session token allauth's headless API gives "app" clients.
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # Bounded JSON (portal.json_input); forms as DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN, nothing inline (CSP).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "TITLE": "Token Portal API",
    "DESCRIPTION": "Organizations, projects, API keys, usage, quotas and billing.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Several models have a "status" field: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "OrganizationStatusEnum": "accounts.models.Organization.Status",
        "ProviderStatusEnum": "billing.models.Provider.Status",
        "CatalogModelStatusEnum": "billing.models.CatalogModel.Status",
        "ProjectStatusEnum": "projects.models.Project.Status",
        "OrganizationKindEnum": "accounts.models.Organization.Kind",
        "CatalogModelKindEnum": "billing.models.CatalogModel.Kind",
        "InvoiceKindEnum": "billing.models.Invoice.Kind",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "LedgerEntryKindEnum": "billing.models.LedgerEntry.Kind",
        "FapiaoRequestStatusEnum": "billing.models.FapiaoRequest.Status",
        "EntitlementUnitEnum": "billing.models.Entitlement.Unit",
        "EntitlementStatusEnum": "billing.models.Entitlement.Status",
        "EntitlementSourceEnum": "billing.models.Entitlement.Source",
        "OfferTermsPeriodEnum": "billing.models.OfferTerms.Period",
    },
}

# --- Metering (billing.metering.services) -------------------------------------------------------
# Events older than this many days, or later than now + the clock skew, are refused.
USAGE_ACCEPTANCE_WINDOW_DAYS = env.int("USAGE_ACCEPTANCE_WINDOW_DAYS", default=35)
USAGE_CLOCK_SKEW_SECONDS = env.int("USAGE_CLOCK_SKEW_SECONDS", default=300)
# Raw events are purged after this many days (rollups are kept).
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=400)
# Event ids folded per rollup transaction.
USAGE_ROLLUP_STEP = env.int("USAGE_ROLLUP_STEP", default=1_000_000)

# --- Model catalog (billing.catalog.importer) -----------------------------------------------
# Decimal from the text, never through float.
CATALOG_USD_CNY_RATE = Decimal(env.str("CATALOG_USD_CNY_RATE", default="7.20"))
CATALOG_MARKUP_PERCENT = Decimal(env.str("CATALOG_MARKUP_PERCENT", default="0"))
# --- Balance and invoices (billing/invoicing: ledger, services) ---------------------------
PREPAID_BALANCE_FLOOR = Decimal(env.str("PREPAID_BALANCE_FLOOR", default="0"))
LOW_BALANCE_ALERT_AMOUNT = Decimal(env.str("LOW_BALANCE_ALERT_AMOUNT", default="100"))
BILLING_HEADROOM_CACHE_SECONDS = env.int("BILLING_HEADROOM_CACHE_SECONDS", default=60)
# How long authorize trusts its cached view of an organization's packs and plan allowance
# (dropped at once when one is granted, drawn, allocated or expires).
PACKAGE_SNAPSHOT_SECONDS = env.int("PACKAGE_SNAPSHOT_SECONDS", default=60)
# Holders of a pack with tokens left are told this many days before it expires.
PACKAGE_EXPIRY_NOTICE_DAYS = env.int("PACKAGE_EXPIRY_NOTICE_DAYS", default=7)
VAT_RATE = Decimal(env.str("VAT_RATE", default="0.06"))
# The operator's billing system that receives the consolidated bill's monthly settlement
# file (billing.managed.billing_system); empty: off.
OPERATOR_BILLING_URL = env.str("OPERATOR_BILLING_URL", default="")
OPERATOR_BILLING_TOKEN = env.str("OPERATOR_BILLING_TOKEN", default="")
OPERATOR_BILLING_TIMEOUT_SECONDS = env.float("OPERATOR_BILLING_TIMEOUT_SECONDS", default=10.0)
OPERATOR_BILLING_RETRY_BASE_SECONDS = env.int("OPERATOR_BILLING_RETRY_BASE_SECONDS", default=300)
OPERATOR_BILLING_RETRY_MAX_SECONDS = env.int("OPERATOR_BILLING_RETRY_MAX_SECONDS", default=21600)
INVOICE_GRACE_DAYS = env.int("INVOICE_GRACE_DAYS", default=2)
INVOICE_AUTO_ISSUE = env_bool("INVOICE_AUTO_ISSUE", True)
INVOICE_PAYMENT_TERMS_DAYS = env.int("INVOICE_PAYMENT_TERMS_DAYS", default=30)
INVOICE_DUE_SOON_DAYS = env.int("INVOICE_DUE_SOON_DAYS", default=3)
OVERDUE_SUSPENSION_NOTICE_DAYS = env.int("OVERDUE_SUSPENSION_NOTICE_DAYS", default=14)
# The seller on invoices, statements and the billing page's transfer instructions. The defaults
# are the demo's placeholders: production sets every one (docs/configuration.md).
SELLER = {
    "legal_name": env.str("SELLER_LEGAL_NAME", default="Token Portal Demo Co., Ltd."),
    "uscc": env.str("SELLER_USCC", default="91350100M000100Y43"),
    "address": env.str("SELLER_ADDRESS", default="1 Demo Road, Haidian District, Beijing"),
    "phone": env.str("SELLER_PHONE", default="010-0000 0000"),
    "bank_name": env.str("SELLER_BANK_NAME", default="Demo Bank, Beijing Haidian Branch"),
    "bank_account": env.str("SELLER_BANK_ACCOUNT", default="1100 0000 0000 0000 000"),
    # Optional PNG of the company seal printed in the invoice's seal area.
    "seal_image": env.str("SELLER_SEAL_IMAGE", default=""),
}
# The TrueType font (.ttf/.ttc with Chinese glyphs) PDFs are set in and embed; empty: the
# first one found (portal.pdf.KNOWN_FONT_PATHS, then fontconfig).
PDF_FONT_PATH = env.str("PDF_FONT_PATH", default="")
# 发票 files staff attach (PDF or OFD) are refused above this size.
FAPIAO_MAX_FILE_BYTES = env.int("FAPIAO_MAX_FILE_BYTES", default=5 * 1024 * 1024)
# The e-fapiao provider that issues fapiao ("" = none: staff attach the files) and, for the
# generic HTTP provider ("http"), its endpoint and bearer token.
FAPIAO_PROVIDER = env.str("FAPIAO_PROVIDER", default="")
FAPIAO_PROVIDER_URL = env.str("FAPIAO_PROVIDER_URL", default="")
FAPIAO_PROVIDER_TOKEN = env.str("FAPIAO_PROVIDER_TOKEN", default="")
FAPIAO_PROVIDER_TIMEOUT_SECONDS = env.float("FAPIAO_PROVIDER_TIMEOUT_SECONDS", default=20.0)
# --- API keys and gateway credentials ----------------------------------------------------
# Peppers of the keyed digests, "id:secret,id:secret"; new tokens use API_KEY_PEPPER_ID,
# tokens made with an older pepper keep working while their id stays in the list.
_peppers = env.str("API_KEY_PEPPERS", default="")
if _peppers:
    try:
        API_KEY_PEPPERS = dict(item.strip().split(":", 1) for item in _peppers.split(","))
    except ValueError:
        raise ImproperlyConfigured('API_KEY_PEPPERS must read "id:secret,id:secret".') from None
elif PRODUCTION:
    raise ImproperlyConfigured(
        "API_KEY_PEPPERS (or API_KEY_PEPPERS_FILE) is required in production."
    )
else:
    API_KEY_PEPPERS = {"dev": hashlib.sha256(f"api-key-pepper:{SECRET_KEY}".encode()).hexdigest()}
API_KEY_PEPPER_ID = env.str("API_KEY_PEPPER_ID", default=list(API_KEY_PEPPERS)[-1])
if API_KEY_PEPPER_ID not in API_KEY_PEPPERS or not all(API_KEY_PEPPERS.values()):
    raise ImproperlyConfigured("API_KEY_PEPPER_ID must name a non-empty pepper of API_KEY_PEPPERS.")

# --- Encryption of stored secrets (portal.crypto) ---------------------------------------
# Fernet keys (Fernet.generate_key()), comma-separated: the first encrypts, all decrypt.
# Required in production; elsewhere empty means a key derived from SECRET_KEY (which, like
# the older derived keys, keeps decrypting after keys are set: see portal/crypto.py).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if PRODUCTION and not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS (or FIELD_ENCRYPTION_KEYS_FILE) is required in production."
    )
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes), "
            "comma-separated."
        ) from None

# --- OpenAI-compatible relay (gateway/) --------------------------------------------------
RELAY_CONNECT_TIMEOUT_SECONDS = env.float("RELAY_CONNECT_TIMEOUT_SECONDS", default=5.0)
# Between two bytes of an upstream's answer (a stream may last longer in total).
RELAY_READ_TIMEOUT_SECONDS = env.float("RELAY_READ_TIMEOUT_SECONDS", default=120.0)
RELAY_MAX_CONNECTIONS = env.int("RELAY_MAX_CONNECTIONS", default=200)
# Circuit breaker: this many failures in a row open a channel for the cool-down, then one
# probe call decides whether it closes again.
RELAY_BREAKER_FAILURES = env.int("RELAY_BREAKER_FAILURES", default=5)
RELAY_BREAKER_COOLDOWN_SECONDS = env.float("RELAY_BREAKER_COOLDOWN_SECONDS", default=30.0)
# Relay calls are billed in batches, one ingest_usage() per this interval and worker process at
# most: ingestion's queries are per batch, so shorter intervals cost the relay throughput.
RELAY_BILL_EVERY_SECONDS = env.float("RELAY_BILL_EVERY_SECONDS", default=0.5)
# Each answered call's usage is journaled before its answer completes (relay/journal.py): in
# a Redis stream ("redis", with REDIS_URL) or in fdatasync'ed files of this host ("file").
RELAY_USAGE_JOURNAL = env.str("RELAY_USAGE_JOURNAL", default="redis" if REDIS_URL else "file")
if RELAY_USAGE_JOURNAL not in ("file", "redis" if REDIS_URL else "file"):
    raise ImproperlyConfigured('RELAY_USAGE_JOURNAL is "file", or "redis" with REDIS_URL set.')
RELAY_JOURNAL_DIR = Path(env.str("RELAY_JOURNAL_DIR", default=str(VAR_DIR / "relay-journal")))
# Replay of what stopped relay processes journaled: at start-up and this often; in the Redis
# stream, entries this old count as left by a stopped process.
RELAY_USAGE_RECOVER_AFTER_SECONDS = env.float("RELAY_USAGE_RECOVER_AFTER_SECONDS", default=60.0)

# --- Security -------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Probes and the metrics scrape come over the internal network in plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content Security Policy (django-csp), enforced everywhere so that tests and development see
# what production refuses. Nothing inline: scripts and styles are files under static/.
# CSP_REPORT_ONLY=true sends the same policy as report-only (to try a change in production).
_CSP = {
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
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# --- Metrics (portal.metrics) ----------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Logging --------------------------------------------------------------------------
# One line per record on stderr: JSON in production (python-json-logger), readable text in
# development. Every record carries request_id (web) and task_id (Celery) (portal.request_id);
# Celery's worker logs through this configuration too (it does not hijack the root logger).
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "portal.request_id.RequestIdFilter"}},
    "formatters": {
        "text": {
            "()": "portal.logs.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": json_formatter("request_id", "task_id"),
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["ids"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO: one line per relay call.
    "loggers": {"httpx": {"level": "WARNING"}},
}

# --- Notifications and webhooks (notifications.services, notifications.webhooks) ----------------
# Bell and email texts for users who never chose a language (accounts/languages.py).
NOTIFICATION_LANGUAGE = env.str("NOTIFICATION_LANGUAGE", default=LANGUAGE_CODE)
# Absolute links in emails.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
# The relay's OpenAI-compatible base URL as customers call it (the key pages' quickstart):
# the portal's own /v1 unless the relay is published under another host.
RELAY_PUBLIC_URL = env.str("RELAY_PUBLIC_URL", default=PORTAL_BASE_URL.rstrip("/") + "/v1")
# Seconds to wait after each failed attempt: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h, 24 h.
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS", cast=int, default=[60, 300, 1800, 7200, 21600, 43200, 86400]
)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Off in production: customers' webhook URLs may then reach public https addresses only.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", not PRODUCTION)

# --- Online payments (billing.payments) ---------------------------------------------------------
# A provider is offered only when every one of its options is set; none is by default. Keys
# are PEM text (or NAME_FILE). The notification URLs are PAYMENTS_NOTIFY_BASE_URL +
# /billing/payments/notify/<provider>/ and must be reachable by the provider over https.
PAYMENTS_NOTIFY_BASE_URL = env.str("PAYMENTS_NOTIFY_BASE_URL", default=PORTAL_BASE_URL)
PAYMENT_MIN_AMOUNT = Decimal(env.str("PAYMENT_MIN_AMOUNT", default="1.00"))
PAYMENT_MAX_AMOUNT = Decimal(env.str("PAYMENT_MAX_AMOUNT", default="100000.00"))
# How long a payment code stays payable (the providers refuse the payment after it).
PAYMENT_EXPIRY_MINUTES = env.int("PAYMENT_EXPIRY_MINUTES", default=120)
# Notifications accepted a minute from one address (portal.ratelimit; 0 = no limit).
PAYMENT_NOTIFY_RATE_LIMIT = env.int("PAYMENT_NOTIFY_RATE_LIMIT", default=120)
PAYMENT_PROVIDERS = {
    "wechat": {
        "adapter": "billing.payments.wechat.WeChatPayProvider",
        "options": {
            "mchid": env.str("WECHATPAY_MCHID", default=""),
            "appid": env.str("WECHATPAY_APPID", default=""),
            "private_key": env.str("WECHATPAY_PRIVATE_KEY", default=""),
            "cert_serial_no": env.str("WECHATPAY_CERT_SERIAL_NO", default=""),
            "apiv3_key": env.str("WECHATPAY_APIV3_KEY", default=""),
            "public_key": env.str("WECHATPAY_PUBLIC_KEY", default=""),
            "public_key_id": env.str("WECHATPAY_PUBLIC_KEY_ID", default=""),
            "api_base": env.str("WECHATPAY_API_BASE", default="https://api.mch.weixin.qq.com"),
        },
    },
    "alipay": {
        "adapter": "billing.payments.alipay.AlipayProvider",
        "options": {
            "app_id": env.str("ALIPAY_APP_ID", default=""),
            "app_private_key": env.str("ALIPAY_APP_PRIVATE_KEY", default=""),
            "alipay_public_key": env.str("ALIPAY_PUBLIC_KEY", default=""),
            "gateway": env.str("ALIPAY_GATEWAY", default="https://openapi.alipay.com/gateway.do"),
        },
    },
}
