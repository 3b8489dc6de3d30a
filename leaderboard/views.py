"""Leaderboard page, JSON and CSV.

Without filters they read the stored snapshot (refreshed by Celery beat). With filters
(mode, language, date range, workshop rooms included, minimum votes, style control, both_bad) the table
is computed on demand with fewer bootstrap rounds and cached for the refresh period.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from arena.battles import MODE_LABELS
from arena.errors import ArenaError
from arena.limits import check_computation_rate
from arena.models import Battle
from arena.visitors import client_ip, ip_hash

from .charts import score_energy_svg
from .snapshots import compute_leaderboard, display_min_votes, latest_snapshot

# Ranked models first (`ranked` true, with rank and tier), then those listed apart for too
# few votes (`ranked` false, no rank, tier or Pareto flag). CO2e is the reveal's definition:
# electricity use plus the hardware's manufacturing share (`gwp_total_...`, with its range
# and its two parts).
CSV_COLUMNS = [
    "rank",
    "tier",
    "ranked",
    "slug",
    "name",
    "organization",
    "license",
    "license_kind",
    "params_b",
    "active_params_b",
    "rating",
    "lower",
    "upper",
    "votes",
    "answers",
    "median_wh",
    "wh_per_1k_tokens",
    "wh_per_1k_tokens_q1",
    "wh_per_1k_tokens_q3",
    "measured_share",
    "gwp_total_g_per_1k_tokens",
    "gwp_total_g_per_1k_tokens_min",
    "gwp_total_g_per_1k_tokens_max",
    "gwp_usage_g_per_1k_tokens",
    "gwp_embodied_g_per_1k_tokens",
    "worth_answered",
    "worth_yes",
    "worth_yes_share",
    "pareto",
]
ON_DEMAND_BOOTSTRAP = 200


def _bad_filter(message: str) -> ArenaError:
    return ArenaError(400, "invalid_filter", message)


def parse_filters(params) -> tuple[dict, dict]:
    """(filters for the query, options for the fit) from query parameters."""
    filters, options = {}, {}
    mode = params.get("mode")
    if mode:
        if mode not in Battle.Mode.values:
            raise _bad_filter(_("Unknown mode: %(mode)s.") % {"mode": mode})
        filters["mode"] = mode
    language = params.get("language")
    if language:
        if language not in dict(settings.LANGUAGES):
            raise _bad_filter(_("Unknown language: %(lang)s.") % {"lang": language})
        filters["language"] = language
    for key in ("since", "until"):
        if params.get(key):
            try:
                filters[key] = dt.date.fromisoformat(params[key])
            except ValueError:
                raise _bad_filter(_("%(key)s must be a date written YYYY-MM-DD.") % {"key": key}) from None
    if params.get("workshops"):  # workshop rooms are left out unless asked for
        if params["workshops"] != "include":
            raise _bad_filter(_("workshops must be include."))
        filters["workshops"] = "include"
    if params.get("min_votes"):
        try:
            filters["min_votes"] = max(int(params["min_votes"]), 0)
        except ValueError:
            raise _bad_filter(_("min_votes must be a whole number.")) from None
    if params.get("style") in ("1", "true"):
        options["style_control"] = True
    if params.get("both_bad"):
        if params["both_bad"] not in ("tie", "exclude"):
            raise _bad_filter(_("both_bad must be tie or exclude."))
        options["both_bad"] = params["both_bad"]
    return filters, options


def _leaderboard(request) -> dict:
    filters, options = parse_filters(request.GET)
    if not filters and not options:
        return latest_snapshot() or {"rows": [], "provisional": [], "battles": 0, "computed_at": None, "filters": {}}
    key = (
        "leaderboard:"
        + hashlib.sha256(
            json.dumps([filters, options, display_min_votes()], sort_keys=True, default=str).encode()
        ).hexdigest()
    )
    data = cache.get(key)
    if data is None:
        check_computation_rate(ip_hash(client_ip(request)))  # only a computation costs
        data = compute_leaderboard(
            filters,
            bootstrap=ON_DEMAND_BOOTSTRAP,
            min_group=settings.LEADERBOARD_MIN_GROUP,
            display_min_votes=display_min_votes(),
            **options,
        )
        cache.set(key, data, timeout=settings.LEADERBOARD_REFRESH_S)
    return data


def _json_error(exc: ArenaError) -> JsonResponse:
    response = JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.status)
    if exc.retry_after_s is not None:
        response["Retry-After"] = str(exc.retry_after_s)
    return response


def leaderboard_page(request):
    try:
        snap, error, status = _leaderboard(request), None, 200
    except ArenaError as exc:
        snap, error, status = {"rows": [], "battles": 0, "computed_at": None}, exc.message, exc.status
    chart = score_energy_svg(
        snap["rows"],
        title=_("Preference score against energy per 1,000 tokens"),
        x_label=_("Wh per 1,000 output tokens (log scale)"),
        y_label=_("Preference score"),
    )
    return render(
        request,
        "leaderboard/leaderboard.html",
        {
            "snap": snap,
            # A snapshot stored before tiers and the display threshold has neither.
            "has_tiers": any("tier" in row for row in snap["rows"]),
            "provisional": snap.get("provisional") or [],
            "chart": chart,
            "error": error,
            "params": request.GET,
            "modes": MODE_LABELS,
        },
        status=status,
    )


@require_GET
def leaderboard_json(request):
    try:
        return JsonResponse(_leaderboard(request))
    except ArenaError as exc:
        return _json_error(exc)


@require_GET
def leaderboard_csv(request):
    try:
        snap = _leaderboard(request)
    except ArenaError as exc:
        return _json_error(exc)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for ranked, rows in ((True, snap["rows"]), (False, snap.get("provisional") or [])):
        for row in rows:
            writer.writerow([ranked if c == "ranked" else row.get(c) for c in CSV_COLUMNS])  # None: empty
    return response
