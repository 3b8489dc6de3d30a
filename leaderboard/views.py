"""Leaderboard page, JSON and CSV.

Without filters they read the stored snapshot (refreshed by Celery beat). With filters
(mode, language, date range, workshop, minimum votes, style control, both_bad) the table
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

from .charts import score_energy_svg
from .snapshots import compute_leaderboard, latest_snapshot
from arena.models import Battle

CSV_COLUMNS = ["rank", "slug", "name", "organization", "license_kind", "params_b", "rating", "lower", "upper", "votes",
               "answers", "median_wh", "wh_per_1k_tokens", "wh_per_1k_tokens_q1", "wh_per_1k_tokens_q3",
               "measured_share", "gwp_g_per_1k_tokens", "pareto"]
ON_DEMAND_BOOTSTRAP = 200


class BadFilter(ValueError):
    pass


def parse_filters(params) -> tuple[dict, dict]:
    """(filters for the query, options for the fit) from query parameters."""
    filters, options = {}, {}
    mode = params.get("mode")
    if mode:
        if mode not in Battle.Mode.values:
            raise BadFilter(_("Unknown mode: %(mode)s.") % {"mode": mode})
        filters["mode"] = mode
    language = params.get("language")
    if language:
        if language not in dict(settings.LANGUAGES):
            raise BadFilter(_("Unknown language: %(lang)s.") % {"lang": language})
        filters["language"] = language
    for key in ("since", "until"):
        if params.get(key):
            try:
                filters[key] = dt.date.fromisoformat(params[key])
            except ValueError:
                raise BadFilter(_("%(key)s must be a date written YYYY-MM-DD.") % {"key": key}) from None
    if params.get("workshop"):
        filters["workshop"] = params["workshop"][:32]
    if params.get("min_votes"):
        try:
            filters["min_votes"] = max(int(params["min_votes"]), 0)
        except ValueError:
            raise BadFilter(_("min_votes must be a whole number.")) from None
    if params.get("style") in ("1", "true"):
        options["style_control"] = True
    if params.get("both_bad"):
        if params["both_bad"] not in ("tie", "exclude"):
            raise BadFilter(_("both_bad must be tie or exclude."))
        options["both_bad"] = params["both_bad"]
    return filters, options


def _leaderboard(params) -> dict:
    filters, options = parse_filters(params)
    if not filters and not options:
        return latest_snapshot() or {"rows": [], "battles": 0, "computed_at": None, "filters": {}}
    key = "leaderboard:" + hashlib.sha256(json.dumps([filters, options], sort_keys=True, default=str).encode()).hexdigest()
    data = cache.get(key)
    if data is None:
        data = compute_leaderboard(filters, bootstrap=ON_DEMAND_BOOTSTRAP, **options)
        cache.set(key, data, timeout=settings.LEADERBOARD_REFRESH_S)
    return data


def leaderboard_page(request):
    try:
        snap = _leaderboard(request.GET)
        error = None
    except BadFilter as exc:
        snap, error = {"rows": [], "battles": 0, "computed_at": None}, str(exc)
    chart = score_energy_svg(snap["rows"], title=_("Preference score against energy per 1,000 tokens"),
                             x_label=_("Wh per 1,000 output tokens (log scale)"), y_label=_("Preference score"))
    return render(request, "leaderboard/leaderboard.html", {"snap": snap, "chart": chart, "error": error,
                                                      "params": request.GET, "modes": Battle.Mode.choices},
                  status=400 if error else 200)


def leaderboard_json(request):
    try:
        return JsonResponse(_leaderboard(request.GET))
    except BadFilter as exc:
        return JsonResponse({"error": {"code": "invalid_filter", "message": str(exc)}}, status=400)


def leaderboard_csv(request):
    try:
        snap = _leaderboard(request.GET)
    except BadFilter as exc:
        return JsonResponse({"error": {"code": "invalid_filter", "message": str(exc)}}, status=400)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in snap["rows"]:
        writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
    return response
