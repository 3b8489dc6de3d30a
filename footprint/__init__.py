"""Energy -> environmental impacts: zones, PUE/WUE, embodied share, everyday equivalents, estimates.

Pure functions, no Django. The public API:

    compute_impacts(record, profile=None) -> Impacts        measured energy record -> impacts
    default_profile() -> DeploymentProfile                 from fixtures/footprint/datacenter.yaml
    DeploymentProfile.in_zone(zone)                        "as if it ran" elsewhere
    estimate_with_ecologits(...) -> Impacts                EcoLogits estimate for unmetered models
    pick_equivalents(figure, amount, lang="fr")            human-scale everyday equivalents
    equivalents_for(impacts, lang="fr")                    the same for an Impacts' three headline figures
    sum_impacts([Impacts, ...]) -> Impacts                 per-conversation totals
    methodology(lang="fr") -> dict                         formulas, constants, sources, limits
    zone_labels(lang="fr") -> {code: name}                 zones offered in the interface
    energy_class(wh_per_1k_tokens) -> "A".."F"             an answer's class (fixtures/footprint/energy_classes.yaml)
    sobriety_reference(key, lang="fr")                     a familiar reference point, with its source
"""

from footprint.classes import class_table, energy_class, sobriety_reference, wh_per_1k_tokens
from footprint.data import Constant, zone_labels
from footprint.equivalents import equivalents_for, pick_equivalents
from footprint.estimates import estimate_with_ecologits
from footprint.impacts import DeploymentProfile, Figure, Impacts, compute_impacts, default_profile, sum_impacts
from footprint.methodology import methodology

__all__ = [
    "Constant",
    "DeploymentProfile",
    "Figure",
    "Impacts",
    "class_table",
    "compute_impacts",
    "default_profile",
    "energy_class",
    "equivalents_for",
    "estimate_with_ecologits",
    "methodology",
    "pick_equivalents",
    "sobriety_reference",
    "sum_impacts",
    "wh_per_1k_tokens",
    "zone_labels",
]
