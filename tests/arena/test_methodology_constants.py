"""The reveal's new constants are on the methodology page: the energy classes with their
source, the web-search reference, and the training footprints the model authors published."""

import pytest
from django.test import Client

from arena.catalogue import load_catalogue

pytestmark = pytest.mark.django_db


def test_the_methodology_page_lists_classes_references_and_training_footprints():
    load_catalogue("fixtures/catalogue/production.yaml")
    page = Client().get("/methodologie/").content.decode()
    assert 'id="classes"' in page and page.count('class="class-letter') == 6
    assert "compar:IA" in page
    assert "googleblog.blogspot.com/2009/01/powering-google-search.html" in page
    assert (
        "Llama 3.1 8B Instruct" in page and "420 tCO2eq" in page and "1\u202f022 MWh" in page.replace("\xa0", "\u202f")
    )
    assert "Llama 3.3 70B Instruct" in page and "Meta, Llama 3.3 model card" in page


def test_without_published_figures_the_page_says_so():
    load_catalogue("fixtures/catalogue/demo.yaml")
    assert "n'a d'empreinte d'entraînement publiée" in Client().get("/methodologie/").content.decode()
