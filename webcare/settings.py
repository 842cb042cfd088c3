"""One settings module, driven by the environment.

With nothing set, the app runs on the embedded default: SQLite under var/,
Celery on kombu's filesystem transport (no server to install), an in-memory
cache. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (docker secrets)."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in envstr(name, default).split(",") if item.strip()]


VAR_DIR = Path(envstr("WEBCARE_VAR_DIR", str(BASE_DIR / "var")))
DEBUG = envbool("DEBUG", False)
_DEV_SECRET = "embedded-default-insecure-key-do-not-use-in-production"
SECRET_KEY = envstr("SECRET_KEY", _DEV_SECRET)
# Production is recognised by a real SECRET_KEY: it switches on HTTPS-only
# cookies, HSTS and the SSL redirect unless they are set explicitly.
PRODUCTION = SECRET_KEY != _DEV_SECRET and not DEBUG
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

# Key for credentials encrypted at rest (Fernet). Falls back to one derived
# from SECRET_KEY so the embedded default works out of the box.
CREDENTIALS_KEY = envstr("CREDENTIALS_KEY")

# Where the real-world data sets live (read-only; never copied into the repo).
REALWORLD_DATA_DIR = Path(
    envstr("REALWORLD_DATA_DIR", str(BASE_DIR.parent / "shared/data/realworld"))
)

# The "needs a reply" model (inbox/lib/assist/): empty for the one shipped in the repo, built
# from the public data; or the path of one trained on the organisation's own handled
# conversations (`manage.py train_needs_reply --from-handled --output PATH`).
NEEDS_REPLY_MODEL = envstr("NEEDS_REPLY_MODEL")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Django's form templates for TemplatesSetting, after the project's overrides in templates/.
    "django.forms",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "webcare.accounts",
    "routing",
    "inbox",
    "reports",
    "integrations",
    "assist",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    # First, so every log line of the request (and its response) carries the id.
    "webcare.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "webcare.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webcare.middleware.UserTimezoneMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webcare.urls"
WSGI_APPLICATION = "webcare.wsgi.application"
ASGI_APPLICATION = "webcare.asgi.application"

# Forms render through TEMPLATES, so templates/django/forms/ overrides Django's widget templates.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

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
                "django.template.context_processors.i18n",
                "webcare.context_processors.navigation",
                "webcare.context_processors.notification_count",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "webcare.sqlite3"),
            # The test database is a file too, not Django's in-memory default: tests run what
            # the embedded default runs (WAL, a worker process and threads sharing the file).
            "TEST": {"NAME": str(VAR_DIR / "test_webcare.sqlite3")},
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default, or a SQLite file that DATABASE_URL names (sqlite:///path).
    DATABASES["default"].update(
        {
            "ENGINE": "webcare.sqlite",  # Django's, with flush past the audit trigger
            # WAL and a busy timeout let the web process and the worker share the file.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    )
    # INCLUDE columns of an index are PostgreSQL's index-only scans; SQLite indexes the key
    # columns alone, which is all it needs (Django warns of that on every command).
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker ----------------------------------------
REDIS_URL = envstr("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis down reads as "nothing cached": the web side keeps answering (webcare/cache.py).
            "BACKEND": "webcare.cache.DegradingRedisCache",
            "LOCATION": REDIS_URL,
            # Fail fast rather than hang a request when Redis is unreachable.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = None
    # kombu waits forever on a Redis that stops answering without closing the connection
    # (frozen, failover, a dropped NAT entry): a publish after commit would hang the web
    # request. Bounded like the cache; above the 1 s BRPOP timeout the worker polls with.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "socket_timeout": 2,
        "socket_connect_timeout": 1,
    }
    # One retry absorbs the stale pooled connection Redis leaves behind when it restarts;
    # more would only keep a request waiting while Redis is down (tests/faults/test_redis_down).
    CELERY_TASK_PUBLISH_RETRY_POLICY = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    # The embedded default needs no broker server: kombu's filesystem transport
    # passes messages through files under var/broker, read by a real worker.
    _broker_dir = VAR_DIR / "broker"
    for sub in ("out", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Exchange tables too (kombu's default is ./control, in whatever directory runs it).
        "control_folder": str(_broker_dir / "control"),
    }
# Polls have a queue of their own. A worker started without -Q consumes both (the embedded
# default, a small install); a busy install gives ingest its own worker (-Q ingest) so a
# burst of reply sends or sweeps never holds up the next poll (docker-compose.yml).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("ingest", Exchange("ingest"), routing_key="ingest"),
)
CELERY_TASK_ROUTES = {"inbox.poll_channel": {"queue": "ingest"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses the broker retries for as long as the outage lasts (the default
# gives up after 100 attempts, about 48 minutes, and the worker exits).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Tasks running when the broker goes away finish their work (they only need the
# database); cancelling them would leave a poll's 10-minute lease or a reply's send
# lease held for nothing. Every task is idempotent, so a redelivery after the outage is
# harmless. Explicit, as Celery 6 changes the default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Keep Django's LOGGING (JSON, request/task ids, masking) in the worker too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection before and after every task unless
# this is set: a new PostgreSQL session (a backend fork, cold catalog caches) per reply send
# and per poll. Set, it closes them only every 2 x N tasks, and webcare.celery runs Django's
# close_old_connections at each task boundary instead, so CONN_MAX_AGE and the health check
# apply to tasks as they do to web requests.
CELERY_DB_REUSE_MAX = 1000

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username/IP before the password is even checked.
    "webcare.security.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling (django-axes): AXES_FAILURE_LIMIT failures for one username from one
# address lock that pair out for AXES_COOLOFF_MINUTES; a success resets the count.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False  # our own log line, without the username (no personal data in logs)
AXES_IPWARE_PROXY_COUNT = envint("AXES_PROXY_COUNT", 0)
# Two-factor login (django-otp TOTP). Users with a confirmed device always verify;
# REQUIRE_2FA_ROLES forces enrolment for these roles (comma-separated, e.g. "admin,manager").
REQUIRE_2FA_ROLES = envlist("REQUIRE_2FA_ROLES")
OTP_TOTP_ISSUER = envstr("OTP_TOTP_ISSUER", "Webcare Inbox")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18n -----------------------------------------------------------------
LANGUAGE_CODE = envstr("LANGUAGE_CODE", "nl")
LANGUAGES = [("nl", _("Dutch")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TIME_ZONE", "Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if envbool("STATIC_MANIFEST", PRODUCTION)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- E-mail ---------------------------------------------------------------
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if envstr("EMAIL_HOST")
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "webcare@localhost")

# Optional incoming-webhook URL (Slack, Teams) that receives SLA escalations as {"text": ...}.
SLA_WEBHOOK_URL = envstr("SLA_WEBHOOK_URL")

# --- Security (production) ------------------------------------------------
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", PRODUCTION)
# Load balancers and Prometheus often probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics/$"]
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if envbool("BEHIND_PROXY", True) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Sessions read from the cache (Redis), written through to the database: every request loads
# its session, and this spares it a query. While Redis is down a read misses and falls back on
# the database, so the UI keeps working (tests/faults/test_redis_down.py).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# Content-Security-Policy (django-csp): no inline script, no inline event handlers, no eval.
# tests/security/test_templates_csp.py holds every template to it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:"],  # contact avatars live on the platforms
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Prometheus scrapes /metrics/ with "Authorization: Bearer <METRICS_TOKEN>"; without a
# token only a logged-in admin may read it.
METRICS_TOKEN = envstr("METRICS_TOKEN")
# The worker heartbeat (beat task every 30 s) is stale, and /health/ degraded, after this.
HEARTBEAT_STALE_SECONDS = envint("HEARTBEAT_STALE_SECONDS", 120)

# Logs: one JSON object per line (LOG_FORMAT=json, the production default) or plain text,
# each with the request id / Celery task id, and personal data masked (webcare.logs).
LOG_FORMAT = envstr("LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "webcare.logs.ContextFilter"},
        "mask_personal_data": {"()": "webcare.logs.PersonalDataFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "webcare.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context", "mask_personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- The REST API (/api/v1/) ---------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.BearerTokenAuthentication",
        # A logged-in person may call the API from the docs page (CSRF is checked for writes).
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "api.auth.TokenScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.auth.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Webcare Inbox API",
    "DESCRIPTION": "Conversations, triage, replies, contacts, teams, channels and dashboard "
    "figures. Authenticate with `Authorization: Bearer <token>` (Settings → API tokens).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs hold no data: public, so an integrator can read them first.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several components have a field "status", each with its own choices: named here.
    "ENUM_NAME_OVERRIDES": {
        "ConversationStatusEnum": "inbox.models.Status",
        "ConversationStatusFilterEnum": "api.serializers.conversations.STATUS_FILTER_CHOICES",
        "ChannelStatusEnum": "inbox.models.ChannelStatus",
    },
}
# Requests per minute per token, unless the token sets its own limit; over it: 429 + Retry-After.
API_RATE_PER_MINUTE = envint("API_RATE_PER_MINUTE", 600)

# --- Inbox behaviour --------------------------------------------------------
# A customer writing again within this many days reopens a closed conversation; later opens a new one.
REOPEN_WINDOW_DAYS = envint("REOPEN_WINDOW_DAYS", 7)
# Admins are alerted once a channel failed this many polls in a row.
CHANNEL_ALERT_AFTER_FAILURES = envint("CHANNEL_ALERT_AFTER_FAILURES", 3)
# Outgoing webhooks go to public addresses only: a target that resolves to a private, loopback,
# link-local (cloud metadata) or reserved address is refused, so a subscription cannot reach
# into the network the app runs in. Set to 1 where the receiver sits on the organisation's own
# network (a maintenance system on the LAN).
WEBHOOK_ALLOW_PRIVATE_TARGETS = envbool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# Push endpoints (/hooks/) refuse bigger bodies with 413.
WEBHOOK_MAX_BODY_BYTES = envint("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024)

# --- Replies and the outbox -------------------------------------------------
# Answered or waiting conversations close after this many days without a customer message (0: never).
AUTO_CLOSE_AFTER_DAYS = envint("AUTO_CLOSE_AFTER_DAYS", 7)
# A worker holds a reply in "sending" this long; it must exceed the connector's HTTP timeout,
# or a second worker could take over while the first is still waiting on the platform.
OUTBOX_LEASE_SECONDS = envint("OUTBOX_LEASE_SECONDS", 120)
OUTBOX_RETRY_BASE_SECONDS = envint("OUTBOX_RETRY_BASE_SECONDS", 15)
OUTBOX_MAX_RETRIES = envint("OUTBOX_MAX_RETRIES", 8)
