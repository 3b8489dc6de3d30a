"""The site's URLs: the arena's pages and API, the leaderboard, workshops, datasets, languages, the admin."""

from django.contrib import admin
from django.urls import include, path

from arena.api import throttled_admin_login

urlpatterns = [
    path("admin/login/", throttled_admin_login, name="admin-login"),
    path("", include("arena.urls")),
    path("", include("leaderboard.urls")),
    path("", include("workshops.urls")),
    path("", include("exports.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

# The error answers in the visitor's language, JSON under /api/ (config/errors.py).
handler400 = "config.errors.bad_request"
handler404 = "config.errors.not_found"
handler500 = "config.errors.server_error"
