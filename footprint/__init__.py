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
"""

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
    "compute_impacts",
    "default_profile",
    "equivalents_for",
    "estimate_with_ecologits",
    "methodology",
    "pick_equivalents",
    "sum_impacts",
    "zone_labels",
]
