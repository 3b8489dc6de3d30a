from django.urls import path

from . import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("battles/<uuid:battle_id>/", views.battle_page, name="battle"),
    path("methodologie/", views.methodology_page, name="methodology"),
    path("api/models", api.models, name="api-models"),
    path("api/consent", api.consent, name="api-consent"),
    path("api/battles", api.create_battle, name="api-battles"),
    path("api/battles/<uuid:battle_id>/vote", api.vote, name="api-vote"),
    path("api/battles/<uuid:battle_id>/reveal", api.reveal, name="api-reveal"),
    path("api/battles/<uuid:battle_id>/worth", api.worth, name="api-worth"),
    path("api/messages/<uuid:message_id>/reaction", api.reaction, name="api-reaction"),
]
