"""The datasets page and the files of its releases."""

from django.urls import path

from . import views

urlpatterns = [
    path("donnees/", views.datasets_page, name="datasets"),
    path("donnees/<slug:name>/<path:path>", views.dataset_file, name="dataset-file"),
]
