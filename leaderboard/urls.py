from django.urls import path

from . import views

urlpatterns = [
    path("classement/", views.leaderboard_page, name="leaderboard"),
    path("classement.csv", views.leaderboard_csv, name="leaderboard-csv"),
    path("api/leaderboard", views.leaderboard_json, name="api-leaderboard"),
]
