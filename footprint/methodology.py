"""The methodology as structured data, for the page that explains how the figures are made.

`methodology(lang)` returns the formulas, every constant with value/unit/source/year, the electricity
factors of the zones offered, the default deployment profile and the stated limits (what NVML measures
and what it does not). The lead's template renders it; nothing here is HTML.
"""

from __future__ import annotations

import re
from typing import Any

from footprint import data
from footprint.equivalents import HUMAN_SCALE_MAX, HUMAN_SCALE_MIN, equivalent_sources
from footprint.impacts import DeploymentProfile, default_profile

_FORMULAS = [
    {
        "key": "energy_wh",
        "formula": "E = energy_j / 3600",
        "unit": "Wh",
        "label": {
            "fr": "Énergie mesurée sur les accélérateurs (compteur NVML ; sans GPU : RAPL, ou le modèle temps CPU, "
            "estimé), répartie entre les requêtes actives au prorata des jetons traités",
            "en": "Energy measured on the accelerators (NVML counter; without a GPU: RAPL, or the CPU-time model, "
            "estimated), split among the active requests in proportion to the tokens each processed",
        },
    },
    {
        "key": "wall_energy_wh",
        "formula": "E_wall = E × PUE",
        "unit": "Wh",
        "label": {
            "fr": "Énergie au compteur du centre de données (refroidissement et pertes compris)",
            "en": "Energy at the data-centre meter (cooling and losses included)",
        },
    },
    {
        "key": "gwp_usage_g",
        "formula": "GWP_usage = E × PUE × I_zone",
        "unit": "gCO2eq",
        "label": {
            "fr": "Émissions dues à la production de l'électricité (intensité carbone moyenne de la zone)",
            "en": "Emissions of producing the electricity (average carbon intensity of the zone)",
        },
    },
    {
        "key": "water_ml",
        "formula": {
            "fr": "Eau = E × (WUE_site + PUE × WUE_zone)",
            "en": "Water = E × (WUE_site + PUE × WUE_zone)",
        },
        "unit": "mL",
        "label": {
            "fr": "Eau consommée sur site (refroidissement) et pour produire l'électricité",
            "en": "Water consumed on site (cooling) and to produce the electricity",
        },
    },
    {
        "key": "adpe_usage_kgsbeq",
        "formula": "ADPe_usage = E × PUE × ADPe_zone ;  PE_usage = E × PUE × PE_zone",
        "unit": "kgSbeq ; MJ",
        "label": {
            "fr": "Épuisement des ressources abiotiques (métaux, minéraux) et énergie primaire de l'électricité",
            "en": "Abiotic resource depletion (metals, minerals) and primary energy of the electricity",
        },
    },
    {
        "key": "gwp_embodied_g",
        "formula": "GWP_embodied = (n × GWP_accelerator + n / slots × GWP_server) × (duration_s / "
        "avg_concurrency) / lifetime_s",
        "unit": "gCO2eq",
        "label": {
            "fr": "Part de la fabrication du matériel imputée à la requête : sa part du temps de la machine "
            "(durée divisée par le nombre moyen de requêtes servies en même temps) sur sa durée de vie",
            "en": "Share of the hardware's manufacturing charged to the request: its share of the machine's "
            "time (duration divided by the average number of requests served at once) over its lifetime",
        },
    },
    {
        "key": "gwp_g",
        "formula": {
            "fr": "GWP = GWP_usage + GWP_embodied  (de même pour ADPe et PE)",
            "en": "GWP = GWP_usage + GWP_embodied  (same for ADPe and PE)",
        },
        "unit": "gCO2eq",
        "label": {"fr": "Total affiché", "en": "Total shown"},
    },
    {
        "key": "ranges",
        "formula": {
            "fr": "[min, max] = formule évaluée aux bornes du PUE, du WUE, des impacts de fabrication et de la "
            "durée de vie",
            "en": "[min, max] = formula evaluated at the bounds of PUE, WUE, embodied impacts and lifetime",
        },
        "unit": "",
        "label": {
            "fr": "Chaque chiffre porte la fourchette de ses hypothèses",
            "en": "Every figure carries the range of its assumptions",
        },
    },
]

_LIMITS = [
    (
        "nvml_scope",
        "NVML mesure l'énergie des GPU seulement (puce et mémoire de la carte). Le processeur et la mémoire de "
        "l'hôte, le stockage, le réseau du centre de données et les alimentations ne sont pas mesurés, sauf "
        "le processeur lorsque RAPL est lisible (champ cpu_j) ; le PUE couvre le bâtiment, pas ces organes.",
        "NVML measures the GPUs only (chip and board memory). Host CPU and memory, storage, data-centre "
        "network and power supplies are not measured, except the CPU where RAPL is readable (cpu_j field); "
        "PUE covers the building, not these parts.",
    ),
    (
        "outside_datacenter",
        "Ne sont pas comptés : le réseau entre le centre de données et vous, votre appareil, l'entraînement "
        "du modèle et la collecte des données.",
        "Not counted: the network between the data centre and you, your own device, training the model and "
        "collecting its data.",
    ),
    (
        "idle_energy",
        "L'énergie des GPU au repos (aucune requête active) n'est imputée à aucune requête ; elle est publiée "
        "à part par le worker. Mais pendant un intervalle où au moins une requête tourne, toute la "
        "consommation du GPU, sa puissance de base (au repos) comprise, est imputée aux requêtes en cours : "
        "à faible charge, cette base fait l'essentiel du chiffre d'une réponse.",
        "Energy of idle GPUs (no active request) is charged to no request; the worker reports it separately. "
        "But during an interval in which at least one request runs, the GPU's whole draw, its baseline (idle) "
        "power included, is charged to the requests running then: at low load this baseline makes up most "
        "of an answer's figure.",
    ),
    (
        "counter_refresh",
        "NVML met à jour le compteur d'énergie toutes les 20 à 100 ms environ sur les GPU récents "
        "(documentation PETSc), et sur A100 et H100 la puissance n'est échantillonnée que sur 25 % du temps "
        "(arXiv:2312.02741) : le chiffre d'une requête courte, de quelques intervalles, est moins fiable. "
        "L'outil qui mesure le rafraîchissement réel, la puissance au repos et les J par jeton sur GPU "
        "(bench/gpu_energy.py) n'a pas encore tourné sur un GPU.",
        "NVML updates the energy counter about every 20 to 100 ms on newer GPUs (PETSc documentation), and "
        "A100 and H100 sample power over only 25% of the runtime (arXiv:2312.02741): the figure of a short "
        "request, a few intervals long, is less reliable. The bench that measures the actual refresh, the "
        "idle power and J per token on a GPU (bench/gpu_energy.py) has not yet run on a GPU.",
    ),
    (
        "not_measured",
        "Les GPU sans compteur d'énergie sont mesurés en relevant leur puissance, intégrée dans le temps "
        "(méthode nvml-power-polling, mesurée). Sans GPU, l'énergie vient de RAPL, le compteur matériel des "
        "processeurs : mesurée, mais du boîtier processeur entier, partagé par tous les processus de l'hôte "
        "(serveur web, base de données, autres workers). En dernier recours, un modèle temps CPU × puissance "
        "par cœur (méthode cpu-time-model), marqué « non mesuré » ; attaché à un moteur déjà lancé "
        "(--upstream), il compte le temps CPU de toute la machine (ses devices le disent). Les modèles "
        "distants sont estimés par EcoLogits, et marqués comme tels.",
        "GPUs without an energy counter are measured by polling their power, integrated over time (method "
        "nvml-power-polling, measured). Without a GPU, energy comes from RAPL, the CPU's hardware energy "
        "counter: measured, but of the whole CPU package, shared by every process on the host (web server, "
        "database, other workers). As a last resort, a CPU time × power per core model (method "
        "cpu-time-model), marked 'not measured'; attached to an engine already running (--upstream), it "
        "counts the whole machine's CPU time (its devices say so). Remote models are estimated with "
        "EcoLogits and marked so.",
    ),
    (
        "cpu_model",
        "Le modèle temps CPU facture une seconde CPU au TDP d'un processeur courant divisé par ses cœurs "
        "physiques, divisé encore par le nombre de threads matériels par cœur lu sur la machine (/proc compte "
        "le temps par processeur logique). Le TDP est un plafond de conception, pas une consommation "
        "mesurée ; et un cœur dont un seul des deux threads travaille est sous-estimé, jusqu'à 2×. La "
        "constante a une fourchette (fixtures/meter.yaml, tableau des constantes de la méthodologie), mais "
        "l'enregistrement d'énergie n'a pas de champ de fourchette : seule la valeur centrale y figure.",
        "The CPU-time model charges a CPU second the TDP of a common CPU divided by its physical cores, "
        "divided again by the hardware threads per core read from the machine (/proc counts time per "
        "logical CPU). TDP is a design ceiling, not a measured draw; and a core on which only one of two "
        "threads works is understated, by up to 2×. The constant has a range (fixtures/meter.yaml, the "
        "methodology's constants table), but the energy record has no range field: only the central value "
        "is in it.",
    ),
    (
        "average_mix",
        "L'intensité carbone est la moyenne annuelle du pays (ou de la zone), pas celle de l'heure où la "
        "requête a tourné, ni celle d'un contrat d'électricité verte.",
        "Carbon intensity is the yearly average of the country (or zone), not that of the hour the request "
        "ran, nor that of a green-electricity contract.",
    ),
    (
        "embodied_data",
        "Les impacts de fabrication reposent sur peu de données publiques (une déclaration NVIDIA pour H100 "
        "et B200, des estimations Boavizta) ; l'eau de fabrication n'est pas comptée.",
        "Manufacturing impacts rest on few public figures (NVIDIA declarations for H100 and B200, Boavizta "
        "estimates); water used in manufacturing is not counted.",
    ),
    (
        "ecologits_inputs",
        "L'estimation EcoLogits dépend des jetons générés et de la taille du modèle ; les jetons d'entrée ne "
        "font pas partie de son modèle.",
        "The EcoLogits estimate depends on generated tokens and model size; input tokens are not part of its model.",
    ),
]


def _meter_constants() -> list[data.Constant]:
    """The inference worker's constants (fixtures/meter.yaml): the CPU-time model's power per core, with
    its range, and the sampling period."""
    import yaml  # as footprint.data: `import footprint` needs only the standard library

    with open(data.FIXTURES_DIR / "meter.yaml", encoding="utf-8") as fd:
        raw = yaml.safe_load(fd)
    return [data.make_constant(key, raw[key]) for key in ("cpu_watts_per_core", "default_sampling_period_s")]


# The units and source prefixes of the fixtures are written in English; the page shows them in `lang`.
# A unit missing here is a symbol (Wh, kgCO2eq, L/kWh...), the same in both languages.
_UNITS = {
    "years": {"fr": "ans", "en": "years"},
    "ratio": {"fr": "ratio", "en": "ratio"},
    "W per busy physical core": {"fr": "W par cœur physique occupé", "en": "W per busy physical core"},
}

# "Central: ..., Min: ..., Max: ..." in a fixture's source: which bound each reference backs.
_SOURCE_PREFIXES = {
    "Central": {"fr": "Valeur centrale :", "en": "Central:"},
    "Value": {"fr": "Valeur :", "en": "Value:"},
    "Min": {"fr": "Min :", "en": "Min:"},
    "Max": {"fr": "Max :", "en": "Max:"},
    "min": {"fr": "min :", "en": "min:"},
    "max": {"fr": "max :", "en": "max:"},
}
_SOURCE_PREFIX = re.compile(r"(^|\. |; )(" + "|".join(_SOURCE_PREFIXES) + r"):")


def _text(entry: str | dict[str, str], lang: str) -> str:
    return entry if isinstance(entry, str) else entry[lang]


def _unit(unit: str, lang: str) -> str:
    return _UNITS[unit][lang] if unit in _UNITS else unit


def _source(source: str, lang: str) -> str:
    return _SOURCE_PREFIX.sub(lambda m: m.group(1) + _SOURCE_PREFIXES[m.group(2)][lang], source)


def _constant(constant: dict[str, Any], lang: str) -> dict[str, Any]:
    return {**constant, "unit": _unit(constant["unit"], lang), "source": _source(constant["source"], lang)}


def methodology(lang: str = "fr", profile: DeploymentProfile | None = None) -> dict[str, Any]:
    """Formulas, constants (value/unit/source/year), zones, profile and limits, texts in `lang`."""
    if lang not in ("fr", "en"):
        raise ValueError(f"lang must be 'fr' or 'en', got {lang!r}")
    profile = profile or default_profile()
    constants = [profile.pue.to_dict(), profile.wue.to_dict(), profile.hardware_lifetime.to_dict()]
    constants += [constant.to_dict() for constant in _meter_constants()]
    for group in (data.accelerators(), data.servers()):
        for hardware in group.values():
            for constant in (hardware.gwp, hardware.adpe, hardware.pe):
                if constant is not None:
                    constants.append({**constant.to_dict(), "hardware": hardware.label})
    constants = [_constant(constant, lang) for constant in constants]

    labels = data.zone_labels(lang)
    zones = []
    for code, label in labels.items():
        factors = data.zone_factors(code)
        zones.append(
            {
                "zone": code,
                "label": label,
                "gwp_g_per_kwh": factors.gwp_kg_per_kwh * 1000,
                "adpe_kgsbeq_per_kwh": factors.adpe_kgsbeq_per_kwh,
                "pe_mj_per_kwh": factors.pe_mj_per_kwh,
                "wue_l_per_kwh": factors.wue_l_per_kwh,
                "warnings": list(factors.warnings),
            }
        )

    return {
        "formulas": [
            {
                "key": f["key"],
                "formula": _text(f["formula"], lang),
                "unit": f["unit"],
                "label": _text(f["label"], lang),
            }
            for f in _FORMULAS
        ],
        "constants": constants,
        "electricity_mixes": {
            "factors": data.electricity_factor_sources(),
            "zones": zones,
        },
        "equivalents": {
            "human_scale": [HUMAN_SCALE_MIN, HUMAN_SCALE_MAX],
            "items": [{**item, "label": item["label"][lang]} for item in equivalent_sources()],
        },
        "default_profile": {
            "zone": profile.zone,
            "pue": profile.pue.value,
            "wue_l_per_kwh": profile.wue.value,
            "accelerator": profile.accelerator,
            "accelerator_count": profile.accelerator_count,
            "server": profile.server,
            "hardware_lifetime_years": profile.hardware_lifetime.value,
        },
        "estimates": {
            "source": f"EcoLogits {data.ecologits_version()}",
            "url": "https://ecologits.ai/latest/methodology/llm_inference/",
        },
        "limits": [{"key": key, "text": fr if lang == "fr" else en} for key, fr, en in _LIMITS],
    }
