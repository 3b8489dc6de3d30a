"""Leaderboard page, JSON and CSV: they read the stored snapshot, never recompute."""

from __future__ import annotations

import csv

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .charts import score_energy_svg
from .leaderboard import latest_snapshot

CSV_COLUMNS = ["rank", "slug", "name", "organization", "license_kind", "params_b", "rating", "lower", "upper", "votes",
               "answers", "median_wh", "wh_per_1k_tokens", "wh_per_1k_tokens_q1", "wh_per_1k_tokens_q3",
               "measured_share", "gwp_g_per_1k_tokens", "pareto"]


def _snapshot() -> dict:
    return latest_snapshot() or {"rows": [], "battles": 0, "computed_at": None}


def leaderboard_page(request):
    snap = _snapshot()
    chart = score_energy_svg(snap["rows"], title=_("Preference score against energy per 1,000 tokens"),
                             x_label=_("Wh per 1,000 output tokens (log scale)"), y_label=_("Preference score"))
    return render(request, "arena/leaderboard.html", {"snap": snap, "chart": chart})


def leaderboard_json(request):
    return JsonResponse(_snapshot())


def leaderboard_csv(request):
    snap = _snapshot()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in snap["rows"]:
        writer.writerow([row.get(c, "") for c in CSV_COLUMNS])
    return response
