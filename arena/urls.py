from django.contrib import admin
from django.urls import include, path

from . import api, leaderboard_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("battles/<uuid:battle_id>/", views.battle_page, name="battle"),
    path("methodologie/", views.methodology_page, name="methodology"),
    path("classement/", leaderboard_views.leaderboard_page, name="leaderboard"),
    path("classement.csv", leaderboard_views.leaderboard_csv, name="leaderboard-csv"),
    path("api/leaderboard", leaderboard_views.leaderboard_json, name="api-leaderboard"),
    path("api/models", api.models, name="api-models"),
    path("api/consent", api.consent, name="api-consent"),
    path("api/battles", api.create_battle, name="api-battles"),
    path("api/battles/<uuid:battle_id>/vote", api.vote, name="api-vote"),
    path("api/battles/<uuid:battle_id>/reveal", api.reveal, name="api-reveal"),
    path("api/battles/<uuid:battle_id>/worth", api.worth, name="api-worth"),
    path("api/messages/<uuid:message_id>/reaction", api.reaction, name="api-reaction"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
