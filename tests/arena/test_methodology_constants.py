"""The reveal's new constants are on the methodology page: the energy classes with their
source, the web-search reference, and the training footprints the model authors published."""

import html
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from django.test import Client

import footprint
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


# -- what the page says of each power source agrees with the code that labels the records ----------------
def english_page() -> str:
    client = Client()
    client.cookies["django_language"] = "en"
    response = client.get("/methodologie/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_page_labels_each_power_source_as_the_worker_does():
    from inference_workers.power import CpuTimeSource, NvmlSource, RaplSource

    load_catalogue("fixtures/catalogue/demo.yaml")
    page = english_page()
    assert RaplSource.measured and "RAPL counter (measured)" in page  # a hardware counter...
    assert "whole CPU packages" in page and "shared by every process on the host" in page  # ...of the package
    assert "such figures are labelled estimated" not in page  # what once said RAPL was an estimate
    assert NvmlSource.measured and "nvml-power-polling" in page  # the fallback on GPUs without the counter
    assert not CpuTimeSource.measured and "estimated from CPU time (labelled estimated)" in page
    assert "whole machine's CPU time" in page  # --upstream
    limits = {limit["key"]: limit["text"] for limit in footprint.methodology("en")["limits"]}
    assert "'not measured'" in limits["not_measured"] and "RAPL" in limits["not_measured"]
    assert "measured, but of the whole CPU package" in limits["not_measured"]


def test_the_page_says_what_the_ledger_charges_and_how_reliable_the_counter_is():
    load_catalogue("fixtures/catalogue/demo.yaml")
    page = english_page()
    assert "baseline power included" in page  # charged to the requests of an active interval
    assert "20 to 100 ms" in page and "bench/gpu_energy.py" in page and "not yet been run on a GPU" in page
    limits = {limit["key"]: limit["text"] for limit in footprint.methodology("en")["limits"]}
    assert "baseline" in limits["idle_energy"]
    assert "arXiv:2312.02741" in limits["counter_refresh"] and "25%" in limits["counter_refresh"]
    assert "no range field" in limits["cpu_model"]  # the range stays on this page, not in the record


def test_the_meter_constants_are_listed_with_their_range_and_source():
    meter = yaml.safe_load(Path("fixtures/meter.yaml").read_text())
    constants = {c["key"]: c for c in footprint.methodology("en")["constants"]}
    cpu = constants["cpu_watts_per_core"]
    assert (cpu["value"], cpu["min"], cpu["max"]) == (
        meter["cpu_watts_per_core"]["value"],
        meter["cpu_watts_per_core"]["min"],
        meter["cpu_watts_per_core"]["max"],
    )
    assert cpu["unit"] == "W per busy physical core"
    period = constants["default_sampling_period_s"]
    assert "petsc.org" in period["source"] and "arXiv:2312.02741" in period["source"]
    assert "update rate" not in period["source"]  # the NVML reference states none
    load_catalogue("fixtures/catalogue/demo.yaml")
    assert "<code>cpu_watts_per_core</code>" in english_page()


def test_the_release_schema_names_every_method_a_record_can_carry():
    from arena.impacts import ESTIMATE_METHOD
    from exports.schema import ENERGY
    from inference_workers.power import CpuTimeSource, NullSource, RaplSource

    methods = {"nvml", "nvml-power-polling", RaplSource.method, CpuTimeSource.method, NullSource.method}
    methods.add(ESTIMATE_METHOD)
    columns = {c.name: c.description for c in ENERGY.columns}
    for method in methods:
        assert method in columns["method"], method
    assert "nvml-power " not in columns["method"]  # the name the code never wrote
    assert "EcoLogits" in columns["energy_j"]  # a remote API's figure is an estimate, not metered


# -- the French page speaks French, and each scrolling table has a name of its own ------------------------
def page_in(lang: str, path: str = "/methodologie/") -> str:
    client = Client()
    client.cookies["django_language"] = lang
    response = client.get(path)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


class _Regions(HTMLParser):
    """The accessible name of every role="region" element: its aria-label, or the text of the element
    its aria-labelledby points at."""

    def __init__(self):
        super().__init__()
        self.regions: list[tuple[str | None, str | None]] = []  # (aria-label, aria-labelledby)
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []  # (id, tag) of the elements being read

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("role") == "region":
            self.regions.append((attrs.get("aria-label"), attrs.get("aria-labelledby")))
        if attrs.get("id"):
            self.texts[attrs["id"]] = ""
            self._open.append((attrs["id"], tag))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][1] == tag:
            self._open.pop()

    def handle_data(self, data):
        for element_id, _ in self._open:
            self.texts[element_id] += data

    def names(self) -> list[str]:
        names = []
        for label, labelledby in self.regions:
            if labelledby:
                assert labelledby in self.texts, f"aria-labelledby points at no element: {labelledby}"
                label = " ".join(self.texts[labelledby].split())
            assert label, "a region without a name"
            names.append(label)
        return names


def region_names(page: str) -> list[str]:
    parser = _Regions()
    parser.feed(page)
    return parser.names()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_scrolling_table_of_the_methodology_has_a_name_of_its_own(lang):
    load_catalogue("fixtures/catalogue/demo.yaml")
    names = region_names(page_in(lang))
    assert len(names) >= 4  # formulas, constants, equivalents, energy classes
    assert len(set(names)) == len(names), names  # axe landmark-unique
    assert not {"Table", "Tableau"} & set(names)  # a name that says which table
    expected = {"fr": "Constantes et sources", "en": "Constants and sources"}[lang]
    assert expected in names  # the heading above the table


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_leaderboard_table_is_named_by_its_caption(lang):
    names = region_names(page_in(lang, "/classement/"))
    assert names and len(set(names)) == len(names), names
    assert not {"Table", "Tableau"} & set(names)


ENGLISH_ON_THE_FRENCH_PAGE = {
    # what a user tour found on /methodologie/ in French -> what the page says instead
    "(same for ADPe and PE)": "(de même pour ADPe et PE)",
    "formula evaluated at the bounds": "formule évaluée aux bornes",
    "Water = E": "Eau = E",
    "<td>years</td>": "<td>ans</td>",
    "<td>W per busy physical core</td>": "<td>W par cœur physique occupé</td>",
    "<td>Central: ": "<td>Valeur centrale : ",
    "<td>Value: ": "<td>Valeur : ",
    ". Max: ": ". Max : ",
    "; min: ": "; min : ",
}


def test_the_french_methodology_writes_formulas_units_and_source_prefixes_in_french():
    load_catalogue("fixtures/catalogue/demo.yaml")
    french = page_in("fr")
    english = page_in("en")
    assert '<html lang="fr">' in french
    for english_text, french_text in ENGLISH_ON_THE_FRENCH_PAGE.items():
        assert english_text not in french, english_text
        assert french_text in french, french_text
        assert english_text in english, english_text  # the English page keeps the fixtures' words
    assert "<td>ratio</td>" in french and "<td>ratio</td>" in english  # the same word in both


def test_the_methodology_data_translates_units_and_prefixes_but_keeps_the_references():
    french = {c["key"]: c for c in footprint.methodology("fr")["constants"]}
    english = {c["key"]: c for c in footprint.methodology("en")["constants"]}
    assert french.keys() == english.keys()
    lifetime = "datacenter.hardware_lifetime"
    assert (french[lifetime]["unit"], english[lifetime]["unit"]) == ("ans", "years")
    assert french[lifetime]["value"] == english[lifetime]["value"]
    for key, constant in french.items():
        # only the prefixes change: the cited references and their addresses stay as published
        assert (
            constant["source"].replace("Valeur centrale :", "Central:").replace("Valeur :", "Value:").replace(" :", ":")
            == english[key]["source"]
        ), key
