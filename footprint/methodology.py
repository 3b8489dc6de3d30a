"""The methodology as structured data, for the page that explains how the figures are made.

`methodology(lang)` returns the formulas, every constant with value/unit/source/year, the electricity
factors of the zones offered, the default deployment profile and the stated limits (what NVML measures
and what it does not). The lead's template renders it; nothing here is HTML.
"""

from __future__ import annotations

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
            "fr": "Énergie mesurée sur les accélérateurs (compteur NVML), répartie entre les requêtes actives "
            "au prorata des jetons traités",
            "en": "Energy measured on the accelerators (NVML counter), split among the active requests in "
            "proportion to the tokens each processed",
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
        "formula": "Water = E × (WUE_site + PUE × WUE_zone)",
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
        "formula": "GWP = GWP_usage + GWP_embodied  (same for ADPe and PE)",
        "unit": "gCO2eq",
        "label": {"fr": "Total affiché", "en": "Total shown"},
    },
    {
        "key": "ranges",
        "formula": "[min, max] = formula evaluated at the bounds of PUE, WUE, embodied impacts and lifetime",
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
        "à part par le worker.",
        "Energy of idle GPUs (no active request) is charged to no request; the worker reports it separately.",
    ),
    (
        "not_measured",
        "Sans compteur GPU, l'énergie vient de RAPL ou d'un modèle temps CPU × puissance, et est marquée "
        "« non mesurée ». Les modèles distants sont estimés par EcoLogits, et marqués comme tels.",
        "Without a GPU counter, energy comes from RAPL or a CPU-time × power model and is marked "
        "'not measured'. Remote models are estimated with EcoLogits and marked so.",
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


def _text(entry: dict[str, str], lang: str) -> str:
    return entry[lang]


def methodology(lang: str = "fr", profile: DeploymentProfile | None = None) -> dict[str, Any]:
    """Formulas, constants (value/unit/source/year), zones, profile and limits, texts in `lang`."""
    if lang not in ("fr", "en"):
        raise ValueError(f"lang must be 'fr' or 'en', got {lang!r}")
    profile = profile or default_profile()
    constants = [profile.pue.to_dict(), profile.wue.to_dict(), profile.hardware_lifetime.to_dict()]
    for group in (data.accelerators(), data.servers()):
        for hardware in group.values():
            for constant in (hardware.gwp, hardware.adpe, hardware.pe):
                if constant is not None:
                    constants.append({**constant.to_dict(), "hardware": hardware.label})

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
            {"key": f["key"], "formula": f["formula"], "unit": f["unit"], "label": _text(f["label"], lang)}
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
