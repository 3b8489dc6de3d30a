"""Workshop pages (French paths, like the arena's) and their JSON API."""

from django.urls import path

from . import api, views

urlpatterns = [
    path("ateliers/", views.create_page, name="workshop-create"),
    path("w/", views.join_lookup, name="workshop-lookup"),
    path("w/<str:code>/", views.join, name="workshop-join"),
    path("w/<str:code>/animer/", views.facilitator_page, name="workshop-facilitator"),
    path("w/<str:code>/animer/<str:token>/", views.facilitator_link, name="workshop-facilitator-link"),
    path("w/<str:code>/projection/", views.dashboard_page, name="workshop-dashboard"),
    path("w/<str:code>/feuille/", views.sheet_page, name="workshop-sheet"),
    path("w/<str:code>/bilan/", views.summary_page, name="workshop-summary"),
    path("api/workshops", api.create, name="api-workshops"),
    path("api/workshops/<str:code>", api.detail, name="api-workshop"),
    path("api/workshops/<str:code>/join", api.join, name="api-workshop-join"),
    path("api/workshops/<str:code>/state", api.state, name="api-workshop-state"),
    path("api/workshops/<str:code>/stats", api.live_stats, name="api-workshop-stats"),
    path("api/workshops/<str:code>/summary", api.summary, name="api-workshop-summary"),
    path("api/workshops/<str:code>/battles.csv", api.battles_csv, name="api-workshop-csv"),
]
