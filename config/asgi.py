"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from django.conf import settings  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from config.handlers import OneHopASGIHandler, with_event_loop  # noqa: E402

django_handler = OneHopASGIHandler() if settings.ARENA_ASGI_ONE_HOP else ASGIHandler()
django_asgi_app = with_event_loop(django_handler)

from config.sqlite import keep_write_ahead_log  # noqa: E402

keep_write_ahead_log()  # a server's requests no longer pay for the SQLite log (config/sqlite.py)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)
from channels.sessions import CookieMiddleware  # noqa: E402
from django.urls import path  # noqa: E402

from arena.consumers import BattleConsumer  # noqa: E402
from arena.origins import SameOriginValidator  # noqa: E402
from arena.visitors import ForwardedClientMiddleware  # noqa: E402
from workshops.consumers import DashboardConsumer  # noqa: E402

websocket_urlpatterns = [
    path("ws/battles/<uuid:battle_id>/", BattleConsumer.as_asgi()),
    path("ws/workshops/<str:code>/", DashboardConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": ForwardedClientMiddleware(SameOriginValidator(CookieMiddleware(URLRouter(websocket_urlpatterns)))),
    }
)
