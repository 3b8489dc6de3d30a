"""The arena's deployment profile and the EcoLogits estimate stored beside each answer.

Thin glue between the settings and the pure `footprint` package.
"""

from __future__ import annotations

from django.conf import settings

import footprint
from inference_workers.protocol import EnergyRecord


def deployment_profile():
    """The deployment profile of fixtures/footprint, in the zone the settings name."""
    profile = footprint.default_profile()
    return profile.in_zone(settings.ARENA_ZONE) if profile.zone != settings.ARENA_ZONE else profile


def ecologits_estimate(
    llm, prompt_tokens: int | None, completion_tokens: int | None, duration_ms: int | None
) -> dict | None:
    """What EcoLogits would say of an answer of this size by this model (None for no tokens)."""
    if not completion_tokens:
        return None
    est = footprint.estimate_with_ecologits(
        llm.params_b,
        llm.active_params_b,
        prompt_tokens or 0,
        completion_tokens,
        (duration_ms or 0) / 1000.0,
        deployment_profile().zone,
    )
    return {
        "energy_wh": est.wall_energy_wh.value,
        "energy_wh_min": est.wall_energy_wh.min,
        "energy_wh_max": est.wall_energy_wh.max,
        "gwp_g": est.gwp_g.value,
        "source": est.source,
    }


ESTIMATE_METHOD = "ecologits"


def estimated_record(llm, prompt_tokens: int | None, completion_tokens: int | None, duration_ms: int | None):
    """The energy of a remote API's answer, which meters nothing: EcoLogits' estimate for
    this model and these tokens, as a record that says `measured: false, method: ecologits`.

    EcoLogits gives energy at the wall (PUE included) while a record holds the servers'
    own energy, as a worker's does: the estimate is divided by the deployment profile's
    central PUE, the one the estimate used, and the footprint multiplies it back."""
    estimate = ecologits_estimate(llm, prompt_tokens, completion_tokens, duration_ms)
    if estimate is None:
        return None
    pue = deployment_profile().pue.value
    return EnergyRecord(
        measured=False,
        method=ESTIMATE_METHOD,
        energy_j=estimate["energy_wh"] * 3600.0 / pue,
        duration_s=(duration_ms or 0) / 1000.0,
        devices=[f"remote API ({llm.remote_api.get('provider', '')})"],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
