"""The site's URLs: the arena's pages and API, the leaderboard, languages, the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("arena.urls")),
    path("", include("leaderboard.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
