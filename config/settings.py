"""Switchboard settings: one flat module, every variable read through django-environ.

Variables follow the order of DESIGN.md's configuration table. Anything the instance
writes lives under DATA_DIR.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Everything this process creates is private: files 0600, folders 0700 (the database and
# its -wal/-shm, logs, backups, uploads, generated keys), whichever library writes them.
# collectstatic is the exception: its output is public and, in the image, read by another
# user than the one who built it.
if sys.argv[1:2] != ["collectstatic"]:
    os.umask(0o077)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
if DATA_DIR.stat().st_uid == os.geteuid():
    DATA_DIR.chmod(0o700)  # also an older install's folder, or a volume made 0755


def _generated_secret(name: str, make: Callable[[], str]) -> str:
    """Read DATA_DIR/<name>, creating it (mode 0600) on first start."""
    path = DATA_DIR / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    return path.read_text().strip()


# --- DESIGN.md configuration table, in its order ---------------------------------

SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_secret(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
FIELD_ENCRYPTION_KEYS: list[str] = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    _generated_secret("encryption.key", lambda: Fernet.generate_key().decode())
]
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
REDIS_URL = env.str("REDIS_URL", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS", default=["http://localhost:8000", "http://127.0.0.1:8000"]
)
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", default=1)
REQUIRE_API_KEY = env.bool("REQUIRE_API_KEY", default=True)
GATEWAY_MAX_ATTEMPTS = env.int("GATEWAY_MAX_ATTEMPTS", default=3)
REQUEST_TIMEOUT_SECONDS = env.float("REQUEST_TIMEOUT_SECONDS", default=60.0)
CONNECT_TIMEOUT_SECONDS = 5.0
HEALTH_CHECK_ENABLED = env.bool("HEALTH_CHECK_ENABLED", default=True)
# Probes run on their own loop (providers.prober), so the interval holds to the second.
HEALTH_CHECK_INTERVAL_SECONDS = max(5, env.int("HEALTH_CHECK_INTERVAL_SECONDS", default=60))
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=5.0)
HEALTH_CHECK_FAILURE_THRESHOLD = env.int("HEALTH_CHECK_FAILURE_THRESHOLD", default=3)
OPENROUTER_API_KEY = env.str("OPENROUTER_API_KEY", default="")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
# How long a stop (and a restore's maintenance) waits for requests and streams in flight.
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", default=30.0)
# Where provider URLs may point (providers/url_policy.py); checked by providers.E002.
PROVIDER_URL_POLICY = env.str("PROVIDER_URL_POLICY", default="default").strip().lower()
PROVIDER_URL_ALLOW: list[str] = env.list("PROVIDER_URL_ALLOW", default=[])
# Bearer token for /metrics; without it /metrics takes an admin key or a login holding
# console.view_monitoring (config.metrics).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- further knobs -----------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
BACKUP_KEEP = env.int("BACKUP_KEEP", default=14)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=10 * 1024 * 1024)
# Uploaded backups for POST /api/admin/restore (a database, so larger than documents).
RESTORE_MAX_BYTES = env.int("RESTORE_MAX_BYTES", default=512 * 1024 * 1024)
SWITCHBOARD_VERSION = "0.1.0"
# /v1 bodies carry base64 images, so they may be larger than console form posts.
V1_MAX_BODY_BYTES = env.int("V1_MAX_BODY_BYTES", default=20 * 1024 * 1024)
# Output tokens a budget reserves for a request that sets no max_tokens (DESIGN.md budgets).
BUDGET_RESERVE_TOKENS = env.int("BUDGET_RESERVE_TOKENS", default=1024)
# Days a stored Responses API answer stays readable (chat.StoredResponse, pruned hourly).
RESPONSES_RETENTION_DAYS = env.int("RESPONSES_RETENTION_DAYS", default=30)
# Browser origins allowed to call /v1 (config.gateway_handler answers their preflight);
# empty: no CORS headers at all.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
# Self-service keys: how many active keys a user without ApiKey permissions may hold.
MAX_KEYS_PER_USER = env.int("MAX_KEYS_PER_USER", default=5)

# --- Django ------------------------------------------------------------------------

# daphne's app is there for `runserver` (it makes it ASGI) and must come first; importing
# it installs Twisted's reactor, about 50 MB a process. The uvicorn workers `serve` starts
# have no use for it and set SWITCHBOARD_ASGI_WORKER=1 to leave it out.
ASGI_WORKER = env.bool("SWITCHBOARD_ASGI_WORKER", default=False)
INSTALLED_APPS = [
    *([] if ASGI_WORKER else ["daphne"]),
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "ninja",  # serves /api/docs assets locally instead of from a CDN
    "csp",
    "axes",
    "coordination",
    "providers",
    "routing",
    "chat",
    "usage",
    "documents",
    "console",
    "config.apps.SwitchboardConfig",  # OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set
]

MIDDLEWARE = [
    # First: its request id and duration cover every other middleware (config.middleware).
    "config.middleware.RequestObservabilityMiddleware",
    # /api answers 503 while a restore runs (lifecycle.maintenance); before the session.
    "lifecycle.maintenance.MaintenanceMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out (username, address) pair before any password
# is checked, on the admin and the console login alike.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
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

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite gives -wal and -shm the database file's mode: an older install's 0644 file
    # is tightened here, before the first connection.
    _database = Path(str(DATABASES["default"]["NAME"]))
    if _database.is_file() and _database.stat().st_uid == os.geteuid():
        _database.chmod(0o600)
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing mid-transaction.
    # mmap_size stays unset on purpose (see the providers.W001 check).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
            ),
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# A development start needs no collectstatic; the Docker image runs it at build.
WHITENOISE_USE_FINDERS = True
if not STATIC_ROOT.is_dir():
    # Without collectstatic the finders serve the files; WhiteNoise's warning about the
    # missing STATIC_ROOT would tell a newcomer about a problem they do not have.
    warnings.filterwarnings("ignore", message=re.escape(f"No directory at: {STATIC_ROOT}"))

MEDIA_ROOT = DATA_DIR / "uploads"
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- cache, channels, task queue: Redis when configured, local otherwise ------------

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "switchboard",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "switchboard",
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER = {
    "name": "switchboard",
    "workers": env.int("Q_WORKERS", default=1),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 1,
    "save_limit": 250,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- security ----------------------------------------------------------------------

# Login throttling (django-axes): ten failures for one username from one address lock that
# pair out for AXES_COOLOFF_MINUTES; a success resets the count. Attempts are rows in the
# database, so every worker process counts the same failures. The address is REMOTE_ADDR,
# which uvicorn takes from X-Forwarded-For for proxies in FORWARDED_ALLOW_IPS (README
# "Security").
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are kept, successful logins are not
AXES_HTTP_RESPONSE_CODE = 429

SECURE_CONTENT_TYPE_NOSNIFF = True
# Every page Django renders (console, admin, /api/docs) sends this policy: scripts and
# styles only from our own static files (no inline script anywhere), images also from
# data:/blob: (pasted attachments), no remote image a model's answer could smuggle in.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# The container health check asks for /ping over plain HTTP from inside; a redirect to
# https://127.0.0.1 would mark a healthy instance unhealthy.
SECURE_REDIRECT_EXEMPT = [r"^ping$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG and SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SESSION_COOKIE_SECURE)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# A plain-HTTP homelab start is the default; `check --deploy` lists these on purpose
# until an operator turns TLS on (see README "Production").

# --- logging: JSON lines with secrets redacted before anything is written ---------

LOG_DIR = DATA_DIR / "logs"
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "config.logging.RedactSecretsFilter"},
        "request_id": {"()": "config.logging.RequestIdFilter"},
    },
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "console": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json" if LOG_FORMAT == "json" else "console",
            "filters": ["request_id", "redact"],
        },
        "file": {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "switchboard.log"),
            "maxBytes": 10 * 1024 * 1024,
            "backupCount": 10,
            "formatter": "json",
            "filters": ["request_id", "redact"],
            "delay": True,
        },
    },
    "root": {"handlers": ["stdout", "file"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # Their start, stop and every-30-s status lines are noise in an operator's console;
        # serve prints one line of its own. LOG_LEVEL=DEBUG shows them again.
        "django-q": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
        "uvicorn": {"level": "DEBUG" if LOG_LEVEL == "DEBUG" else "WARNING"},
        # django-axes says INFO at every start and login; lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}

NINJA_PAGINATION_MAX_LIMIT = 500
