"""Settings, read from environment variables (healthchecks-style).

Embedded default: SQLite, the in-memory channel layer, local cache, the demo catalogue.
DATABASE_URL switches to PostgreSQL; REDIS_URL switches the channel layer, the cache
(which holds rate limits) and the Celery broker to Redis.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def envbool(name: str, default: str = "False") -> bool:
    """A yes/no setting. A typo ("ture") raises: silently reading it as False could turn
    a production safeguard off."""
    value = os.getenv(name, default).strip().lower()
    if value not in TRUE_WORDS | FALSE_WORDS:
        raise ValueError(f"{name}={value!r} is neither true nor false (use one of {sorted(TRUE_WORDS | FALSE_WORDS)})")
    return value in TRUE_WORDS


def envint(name: str, default: int) -> int:
    value = os.getenv(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None


def envfloat(name: str, default: float) -> float:
    return float(os.getenv(name, str(default)))


DEBUG = envbool("DEBUG", "False")
_DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production"
SECRET_KEY = os.getenv("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = [h for h in os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
# The repository's key signs sessions and salts the IP hashes: public, it may serve this
# machine (`make run`, the tests) and nothing else. Served to other hosts, the arena refuses
# to start without a key of its own rather than warn (`check --deploy` W009) and run.
if SECRET_KEY == _DEV_SECRET_KEY and not DEBUG and set(ALLOWED_HOSTS) - {"127.0.0.1", "localhost", "[::1]"}:
    raise ImproperlyConfigured("Set SECRET_KEY: the arena is served to " + ", ".join(ALLOWED_HOSTS))
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "arena.apps.ArenaConfig",
    "leaderboard.apps.LeaderboardConfig",
    "workshops.apps.WorkshopsConfig",
    "exports.apps.ExportsConfig",
]

MIDDLEWARE = [
    # First: probes answered before host checks and the HTTPS redirect (config/health.py says why).
    "config.health.HealthProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "arena.visitors.FrenchFirstLocaleMiddleware",
    "arena.nul.RefuseNulInUrlMiddleware",  # after the language: its 400 is in the visitor's
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "arena.visitors.VisitorMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}", conn_max_age=0)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A room of people voting at once on the embedded default: WAL lets readers go on while
    # one writes; IMMEDIATE takes the write lock when a transaction starts, so two writers
    # queue on the busy timeout instead of one failing with "database is locked" when it
    # upgrades a read lock half-way through.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that the browser tests' server process sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # PostgreSQL: each process keeps a pool of connections (psycopg_pool) rather than opening
    # one per request and per socket hop (2.2 ms each on this host's loopback, before the first
    # query; bench/arena_overhead.py --database-url: the first delta 15 ms sooner). Django's own persistent connections are
    # per thread, which ASGI makes per request: its docs advise a pool instead. At most
    # ARENA_DB_POOL_MAX connections per process (web, Celery child), none kept idle for long:
    # size PostgreSQL's max_connections for web replicas x that, plus Celery's children.
    # 0 opens one connection per request, as before.
    ARENA_DB_POOL_MAX = envint("ARENA_DB_POOL_MAX", 8)
    if ARENA_DB_POOL_MAX > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 0,
            "max_size": ARENA_DB_POOL_MAX,
            "timeout": 10,  # s waiting for a free connection, then the request fails as if the database were down
            "max_idle": 300,
        }

REDIS_URL = os.getenv("REDIS_URL", "")
# A Redis that hangs (accepts, never answers) must not hold a request for long: the sync views
# of a process share one thread, so every request behind it would wait. Redis answers a cache
# call in well under a millisecond on its network; half a second is a dead Redis.
REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
# How long a view waits to tell a room's projector of a vote (workshops.live): best effort.
WORKSHOP_NOTIFY_TIMEOUT_S = 1.0
if REDIS_URL:
    # channels-redis blocks 5 s on BZPOPMIN; redis-py 8 also times socket reads out at 5 s by
    # default, so the two race and the consumer dies with TimeoutError. Give reads more room.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 1}]},
        }
    }
    CACHES = {
        "default": {
            # A cache that misses (and logs) while Redis restarts, rather than a 500 per request.
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.getenv("CACHE_KEY_PREFIX", "arena"),
            "OPTIONS": REDIS_CACHE_OPTIONS,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL  # embedded: no broker, tasks run inline
LEADERBOARD_REFRESH_S = envint("LEADERBOARD_REFRESH_S", 300)
# A filtered table is shown only over at least this many voted battles: fewer could single
# one person's battle out.
LEADERBOARD_MIN_GROUP = envint("LEADERBOARD_MIN_GROUP", 10)
# A model with fewer votes is listed apart ("not enough votes yet"), unranked: about +-100
# points of 95 % interval at 50 votes.
LEADERBOARD_DISPLAY_MIN_VOTES = envint("LEADERBOARD_DISPLAY_MIN_VOTES", 50)
LEADERBOARD_COMPUTES_PER_MINUTE_IP = envint("LEADERBOARD_COMPUTES_PER_MINUTE_IP", 10)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = []

CSRF_FAILURE_VIEW = "config.errors.csrf_failure"  # JSON under /api/, in the visitor's language

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "arena" / "locale"]
TIME_ZONE = os.getenv("TIME_ZONE", "Europe/Paris")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"  # filled by collectstatic in production images
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns at every start without it
STORAGES = {"staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Security headers, HTTPS and the proxy in front (deploy/, `manage.py check --deploy`) ---
# Content Security Policy (Django's own middleware). Every page uses only its own origin:
# ES modules and one stylesheet under /static/, inline SVG drawn on the server, fetch and
# WebSockets back to the arena ('self' covers ws:/wss: of the same host). No inline script,
# no inline event handler, no style attribute (tests/test_security.py checks the templates),
# so neither 'unsafe-inline' nor a nonce is needed.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# ARENA_HTTPS=true where the arena is served over HTTPS (by itself or by a proxy that ends
# TLS): plain HTTP is redirected, cookies are sent over HTTPS only, and browsers are told to
# come back over HTTPS only (HSTS; preload lists are the domain owner's call: ARENA_HSTS_PRELOAD).
ARENA_HTTPS = envbool("ARENA_HTTPS", "False")
SECURE_SSL_REDIRECT = ARENA_HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = ARENA_HTTPS
SECURE_HSTS_SECONDS = envint("ARENA_HSTS_SECONDS", 365 * 24 * 3600) if ARENA_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("ARENA_HSTS_INCLUDE_SUBDOMAINS", "True")
SECURE_HSTS_PRELOAD = envbool("ARENA_HSTS_PRELOAD", "False")
# How many reverse proxies stand in front of the web (0: none, clients connect to daphne).
# With N, a client's address is the N-th entry from the right of X-Forwarded-For: each proxy
# appends the address it saw, so entries further left were written by the client and prove
# nothing (arena/visitors.py). The nearest proxy also says whether the client came over
# HTTPS: it must set X-Forwarded-Proto itself, never pass a client's on.
ARENA_TRUST_X_FORWARDED_FOR = envint("ARENA_TRUST_X_FORWARDED_FOR", 0)
if ARENA_TRUST_X_FORWARDED_FOR < 0:
    raise ValueError(f"ARENA_TRUST_X_FORWARDED_FOR={ARENA_TRUST_X_FORWARDED_FOR} must be 0 or more proxies")
if ARENA_TRUST_X_FORWARDED_FOR:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- The arena ---------------------------------------------------------------------
ARENA_CATALOGUE = os.getenv("ARENA_CATALOGUE", str(BASE_DIR / "fixtures" / "catalogue" / "demo.yaml"))
# Size classes for the frugal and David-vs-Goliath modes (billions of parameters).
# Defaults fit the demo catalogue; production sets 15 and 60 (see fixtures/catalogue/production.yaml).
ARENA_SMALL_MAX_PARAMS_B = envfloat("ARENA_SMALL_MAX_PARAMS_B", 0.0005)
ARENA_BIG_MIN_PARAMS_B = envfloat("ARENA_BIG_MIN_PARAMS_B", 0.0015)
ARENA_MAX_PROMPT_CHARS = envint("ARENA_MAX_PROMPT_CHARS", 8000)
ARENA_MAX_TURNS = envint("ARENA_MAX_TURNS", 10)
ARENA_MAX_TOKENS = envint("ARENA_MAX_TOKENS", 512)
ARENA_MAX_CONCURRENT_BATTLES = envint("ARENA_MAX_CONCURRENT_BATTLES", 3)
ARENA_PROMPTS_PER_MINUTE_VISITOR = envint("ARENA_PROMPTS_PER_MINUTE_VISITOR", 10)
ARENA_PROMPTS_PER_MINUTE_IP = envint("ARENA_PROMPTS_PER_MINUTE_IP", 30)
ARENA_ADMIN_LOGINS_PER_MINUTE_IP = envint("ARENA_ADMIN_LOGINS_PER_MINUTE_IP", 5)
ARENA_MAX_SOCKETS_PER_VISITOR = envint("ARENA_MAX_SOCKETS_PER_VISITOR", 6)
ARENA_MAX_SOCKETS_PER_IP = envint("ARENA_MAX_SOCKETS_PER_IP", 120)  # a classroom shares one address
ARENA_IP_HASH_SALT = os.getenv("ARENA_IP_HASH_SALT", SECRET_KEY)
# Show both answers at one common pace (arena/pacing.py) so that speed does not identify a
# model. The pace hides speed only while every model is faster than it: 120 characters/s
# (about 30 tokens/s) is below the slowest demo model on a loaded 2-core machine (about 150
# to 250 characters/s, bench/side_channels.py) and still five times reading speed.
ARENA_PACE_STREAMS = envbool("ARENA_PACE_STREAMS", "True")
ARENA_PACE_CHARS_PER_S = envfloat("ARENA_PACE_CHARS_PER_S", 120.0)
ARENA_WORKER_TIMEOUT_S = envfloat("ARENA_WORKER_TIMEOUT_S", 150.0)  # above the worker's stall timeout
# A new battle's answers are sent at the POST (arena/early.py); its socket takes them if it opens
# on the same process within this many seconds, else they are cut (0: sent by the socket only).
ARENA_EARLY_ANSWER_WAIT_S = envfloat("ARENA_EARLY_ANSWER_WAIT_S", 3.0)
# HTTP requests served with their middleware and view in one thread hop (config/handlers.py);
# False: Django's ASGIHandler as it comes (bench/asgi_handler.py compares the two).
ARENA_ASGI_ONE_HOP = envbool("ARENA_ASGI_ONE_HOP", "True")
# Electricity zone for impacts (footprint/); PUE, WUE and hardware come from fixtures/footprint.
ARENA_ZONE = os.getenv("ARENA_ZONE", "FRA")

# Workshops (workshops/): room sizes, rates and the room leaderboard's threshold.
WORKSHOP_MAX_PARTICIPANTS = envint("WORKSHOP_MAX_PARTICIPANTS", 300)  # the most a facilitator may ask for
WORKSHOP_BATTLES_PER_MINUTE = envint("WORKSHOP_BATTLES_PER_MINUTE", 600)  # per room: 300 people, two each
WORKSHOP_CREATES_PER_HOUR_IP = envint("WORKSHOP_CREATES_PER_HOUR_IP", 20)
WORKSHOP_MIN_VOTES = envint("WORKSHOP_MIN_VOTES", 10)  # below this, the room leaderboard says "too early"
WORKSHOP_DASHBOARD_DEBOUNCE_S = envfloat("WORKSHOP_DASHBOARD_DEBOUNCE_S", 0.3)  # events within it: one refresh

# Research datasets (exports/): where the Celery task writes releases, where downloads are served
# from (empty: this server streams the files of EXPORTS_ROOT; else a base URL such as a bucket's),
# and the licence the card declares (a Hugging Face licence id; compar:IA publishes under Etalab 2.0).
EXPORTS_ROOT = os.getenv("EXPORTS_ROOT", str(BASE_DIR / "var" / "exports"))
EXPORTS_URL = os.getenv("EXPORTS_URL", "").rstrip("/")
EXPORTS_LICENSE = os.getenv("EXPORTS_LICENSE", "etalab-2.0")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_tokens": {"()": "config.logfilters.RedactFacilitatorTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "arena": {"handlers": ["console"], "level": os.getenv("ARENA_LOG_LEVEL", "INFO")},
        "httpx": {"level": "WARNING"},
        # They log a request's path (a 4xx, a CSRF failure): a facilitator's link holds a token.
        "django.request": {"filters": ["no_tokens"]},
        "django.security.csrf": {"filters": ["no_tokens"]},
    },
}

CELERY_BEAT_SCHEDULE = {
    "refresh-leaderboard": {"task": "leaderboard.tasks.refresh_leaderboard", "schedule": float(LEADERBOARD_REFRESH_S)},
}
