"""The arena's deployment profile, the EcoLogits estimate stored beside each answer, and
the impacts of one try.

Thin glue between the settings and the pure `footprint` package.
"""

from __future__ import annotations

import logging

from django.conf import settings

import footprint
from inference_workers.protocol import EnergyRecord

log = logging.getLogger(__name__)


def deployment_profile():
    """The deployment profile of fixtures/footprint, in the zone the settings name."""
    profile = footprint.default_profile()
    return profile.in_zone(settings.ARENA_ZONE) if profile.zone != settings.ARENA_ZONE else profile


def ecologits_estimate(
    llm, prompt_tokens: int | None, completion_tokens: int | None, duration_ms: int | None
) -> dict | None:
    """What EcoLogits would say of an answer of this size by this model (None for no tokens).

    `energy_wh` (with `energy_wh_min`/`_max`) is EcoLogits' energy at the wall, the data
    centre's overhead (PUE) included; `pue`, `pue_min`, `pue_max` are the PUE it used, so
    that the reveal can put the estimate on the servers' basis of a metered figure."""
    if not completion_tokens:
        return None
    pue = deployment_profile().pue
    est = footprint.estimate_with_ecologits(
        llm.params_b,
        llm.active_params_b,
        prompt_tokens or 0,
        completion_tokens,
        (duration_ms or 0) / 1000.0,
        deployment_profile().zone,
        pue=pue,
    )
    return {
        "energy_wh": est.wall_energy_wh.value,
        "energy_wh_min": est.wall_energy_wh.min,
        "energy_wh_max": est.wall_energy_wh.max,
        "gwp_g": est.gwp_g.value,
        "source": est.source,
        "pue": pue.value,
        "pue_min": pue.min,
        "pue_max": pue.max,
    }


# A range narrower than this, relative to its value, is one point and float noise.
POINT_RANGE = 1e-6


def estimate_energy(estimate: dict) -> dict[str, dict[str, float | None]]:
    """A stored estimate's energy on both bases, each {"value", "min", "max"}: `wall` (the
    data centre included, as EcoLogits gives it) and `servers` (the PUE taken out: the
    basis of a worker's record, "Energy for this conversation").

    Ranges follow the convention of `footprint.compute_impacts` and of EcoLogits' interval
    arithmetic: the energy at the wall is the servers' times the PUE, its low end the low
    servers' figure times the low PUE and its high end the high one times the high PUE. So
    the servers' low end is the wall's low end divided by the *low* PUE, and its high end
    the wall's high end divided by the *high* PUE: the same bounds, not crossed
    (wall_min / pue_max would count the PUE's spread a second time, on a figure that does
    not depend on the PUE).

    The servers' range is what is left of EcoLogits' range once the PUE is taken out: the
    spread of the model's parameter count, where it is given as a range. Where it is a
    single number, EcoLogits' whole range comes from the PUE and the servers' range is one
    point, min = max = value (float noise snapped): the reveal shows no range then, never a
    range of one point (`point_range`). min/max are None where an older estimate kept no
    range. Estimates stored before the PUE was kept with them are read with the deployment
    profile's (the one they used, unless the fixtures changed since)."""
    if estimate.get("pue"):
        pue = estimate["pue"]
        pue_min, pue_max = estimate.get("pue_min") or pue, estimate.get("pue_max") or pue
    else:
        profile_pue = deployment_profile().pue
        pue, pue_min, pue_max = profile_pue.value, profile_pue.min, profile_pue.max
    value, low, high = estimate["energy_wh"], estimate.get("energy_wh_min"), estimate.get("energy_wh_max")
    servers = value / pue
    servers_low = min(low / pue_min, servers) if low is not None else None
    servers_high = max(high / pue_max, servers) if high is not None else None
    if point_range({"value": servers, "min": servers_low, "max": servers_high}):
        servers_low = servers_high = servers
    return {
        "wall": {"value": value, "min": low, "max": high},
        "servers": {"value": servers, "min": servers_low, "max": servers_high},
    }


def point_range(figure: dict) -> bool:
    """Whether a {"value", "min", "max"} figure's range is one point (float noise aside)."""
    low, high = figure["min"], figure["max"]
    return low is not None and high is not None and high - low <= POINT_RANGE * abs(figure["value"])


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


def attempt_impacts(attempt, llm, profile) -> footprint.Impacts:
    """The impacts of one try that has an energy figure, in `profile`.

    A metered try: `footprint.compute_impacts` of its record. A remote API's try (method
    "ecologits"), whose record holds EcoLogits' energy and names no hardware we know:
    EcoLogits' own impacts for the same model, tokens and latency, in the profile's zone,
    PUE and WUE: the same central energy as the record's, with EcoLogits' ranges and its
    manufacturing (embodied) share, labelled estimated (`measured: False`,
    `method: "ecologits"`). Should EcoLogits fail, the record's impacts, whose
    manufacturing share is then unknown (None, with its warning), never 0."""
    if attempt.method == ESTIMATE_METHOD and attempt.completion_tokens:
        try:
            return footprint.estimate_with_ecologits(
                llm.params_b,
                llm.active_params_b,
                attempt.prompt_tokens or 0,
                attempt.completion_tokens,
                attempt.duration_s or 0.0,
                profile.zone,
                pue=profile.pue,
                wue=profile.wue,
            )
        except Exception:  # the reveal must show: fall back to the record's (manufacturing unknown)
            log.exception("EcoLogits impacts failed for try %s", attempt.pk)
    return footprint.compute_impacts(attempt.energy_record(), profile)
