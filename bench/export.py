"""Benchmark of dataset exports on PostgreSQL: time and peak memory against the number of battles.

Run by hand, not in the test suite:

    .venv/bin/python bench/export.py [--sizes 100k,1M] [--formats parquet,jsonl]
        [--admin-url postgres://postgres@127.0.0.1:5432/postgres] [--keep]

Setup: a scratch database `arena_bench_export` on the server of --admin-url (created, migrated,
the demo catalogue loaded; dropped at the end unless --keep). For each size, its arena tables are
emptied and filled with synthetic voted battles in a few bulk `INSERT ... SELECT generate_series`
statements, never ORM saves: per battle two turns, four answers (about 300 characters of
Markdown each, with their EcoLogits estimate), four tries with a worker energy record, a vote
with tags and comments, and a reaction to one answer in ten. One visitor in four battles; one
battle in ten without publication consent, one in a hundred flagged for an identity leak, one
in a thousand with an e-mail address in its prompt, one prompt in eight with a seven-digit
number (those go through the phone check).

Measurement: `manage.py export_dataset OUT --sample 1000` in a child process started fresh for
each size (its own peak RSS, from getrusage), timed from the command's start to its end; the
child also reports its RSS before the export (Django and the libraries loaded). The table
printed last puts the sizes side by side with the ratios of time and of peak RSS: the target is
1M battles in under 60 s and under 1 GB, with a peak RSS that does not grow with the battles.
It also prints the RSS at each tenth of each export's battles (read when the command reports its
progress): flat from the first tenth on means the memory does not grow with the battles.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRATCH_DB = "arena_bench_export"
PROMPTS = [
    "Explique la photosynthèse à un enfant de 10 ans.",
    "Propose un menu de saison pour quatre personnes, avec une entrée, un plat et un dessert.",
    "Comment réduire la consommation d'énergie d'un logement ancien sans gros travaux ?",
    "Combien coûte 1 500 000 euros placés à 3 % pendant 12 ans ?",
    "Résume la Révolution française en cinq dates clés.",
    "Write a short poem about the sea at night.",
    "Quelle différence entre un virus et une bactérie ?",
    "Donne trois idées d'activités pour un dimanche pluvieux.",
]
ANSWERS = [
    "## En bref\n\nLa plante capte la **lumière** du soleil et l'utilise pour fabriquer du sucre à partir "
    "d'eau et de dioxyde de carbone.\n\n- les feuilles absorbent la lumière\n- les racines puisent l'eau\n"
    "- l'oxygène est rejeté dans l'air\n\nC'est ainsi que la plante grandit.",
    "Voici une proposition :\n\n1. Velouté de potimarron\n2. Blanquette de veau et riz\n3. Tarte aux pommes\n\n"
    "Chaque plat se prépare en moins d'une heure, avec des produits de saison faciles à trouver au marché.",
    "Quelques gestes simples suffisent : baisser le chauffage d'un degré, poser des joints aux fenêtres, "
    "fermer les volets la nuit, éteindre les appareils en veille et purger les radiateurs. Un thermostat "
    "programmable aide aussi à ne chauffer que lorsque c'est utile.",
    "Avec des intérêts composés à 3 %, le capital est multiplié par environ 1,43 en 12 ans : on obtient "
    "donc à peu près **2 140 000 euros**, avant impôts et frais.",
    "The sea at night is a slow, dark breath;\nthe moon lays silver on its quiet chest.\nWaves fold and "
    "unfold like pages turned by wind,\nand every shore keeps what the tide has told.",
]
EMAIL_PROMPT = "Réponds-moi à jean.dupont@orange.fr avec un résumé de tout ça."


def _parse_size(text: str) -> int:
    multipliers = {"k": 1_000, "m": 1_000_000}
    suffix = text[-1].lower()
    return int(float(text[:-1]) * multipliers[suffix]) if suffix in multipliers else int(text)


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def _sql_array(items: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


def _fill(cursor, n: int, model_ids: list[int]) -> None:
    """n voted battles and everything under them, in bulk SQL."""
    m = len(model_ids)
    models = "ARRAY[" + ", ".join(map(str, model_ids)) + "]::bigint[]"
    prompts, answers = _sql_array(PROMPTS), _sql_array(ANSWERS)
    email = EMAIL_PROMPT.replace("'", "''")
    battle_id = "md5('b' || {i})::uuid"
    steps = [
        (
            "visitors",
            f"""INSERT INTO arena_visitor (id, created_at, terms_accepted_at, publish_consent)
            SELECT md5('v' || v)::uuid, now(), now(), true FROM generate_series(0, {max(n // 4, 1) - 1}) v""",
        ),
        (
            "battles",
            f"""INSERT INTO arena_battle (id, visitor_id, mode, model_a_id, model_b_id, created_at, voted_at,
                language, workshop_code, publish_consent, leak_flagged, leak_detail)
            SELECT {battle_id.format(i="i")}, md5('v' || (i % {max(n // 4, 1)}))::uuid, 'random',
                ({models})[1 + i % {m}], ({models})[1 + (i % {m} + 1 + (i / {m}) % {m - 1}) % {m}],
                now() - ({n} - i) * interval '1 second' - interval '2 minutes',
                now() - ({n} - i) * interval '1 second',
                CASE WHEN i % 10 = 3 THEN 'en' ELSE 'fr' END, NULL, i % 10 <> 0, i % 100 = 7,
                CASE WHEN i % 100 = 7 THEN 'side a' ELSE '' END
            FROM generate_series(0, {n - 1}) i""",
        ),
        (
            "turns",
            f"""INSERT INTO arena_turn (id, battle_id, index, prompt, created_at)
            SELECT t + 1, {battle_id.format(i="(t / 2)")}, t % 2,
                CASE WHEN t % 2000 = 3 THEN '{email}' ELSE ({prompts})[1 + (t * 7 + t / 13) % {len(PROMPTS)}] END,
                now()
            FROM generate_series(0, {2 * n - 1}) t""",
        ),
        (
            "answers",
            f"""INSERT INTO arena_message (id, turn_id, side, status, content, html, error_code, prompt_tokens,
                completion_tokens, ttft_ms, duration_ms, estimate, created_at, finished_at)
            SELECT md5('m' || s)::uuid, s / 2 + 1, CASE WHEN s % 2 = 0 THEN 'a' ELSE 'b' END, 'done',
                ({answers})[1 + (s * 3 + s / 7) % {len(ANSWERS)}], '', '', 40 + 120 * ((s / 2) % 2),
                60 + s % 150, 200, 1500 + s % 900,
                jsonb_build_object('energy_wh', 0.001 + (s % 97) * 1e-5, 'energy_wh_min', 0.0008,
                    'energy_wh_max', 0.003, 'gwp_g', 0.0004, 'source', 'EcoLogits 0.11.3'),
                now(), now()
            FROM generate_series(0, {4 * n - 1}) s""",
        ),
        (
            "tries",
            f"""INSERT INTO arena_attempt (id, message_id, battle_id, turn_index, side, request_id, backend,
                outcome, started_at, alive_at, finished_at, prompt_tokens, completion_tokens, energy_j, gpu_j,
                cpu_j, measured, method, duration_s, avg_concurrency, sampling_period_s, devices, record)
            SELECT s + 1, md5('m' || s)::uuid, {battle_id.format(i="(s / 4)")}, (s / 2) % 2,
                CASE WHEN s % 2 = 0 THEN 'a' ELSE 'b' END, md5('r' || s), 'http://worker:8001', 'done', now(),
                now(), now(), 40 + 120 * ((s / 2) % 2), 60 + s % 150, 2.0 + (s % 89) * 0.1, 2.0 + (s % 89) * 0.1,
                NULL, true, 'nvml', 1.5 + (s % 900) / 1000.0, 1 + (s % 12), 0.05,
                jsonb_build_array('NVIDIA H100 80GB HBM3'),
                jsonb_build_object('measured', true, 'method', 'nvml', 'energy_j', 2.0 + (s % 89) * 0.1,
                    'gpu_j', 2.0 + (s % 89) * 0.1, 'cpu_j', NULL, 'duration_s', 1.5 + (s % 900) / 1000.0,
                    'devices', jsonb_build_array('NVIDIA H100 80GB HBM3'), 'avg_concurrency', 1 + (s % 12),
                    'prompt_tokens', 40 + 120 * ((s / 2) % 2), 'completion_tokens', 60 + s % 150,
                    'sampling_period_s', 0.05)
            FROM generate_series(0, {4 * n - 1}) s""",
        ),
        (
            "votes",
            f"""INSERT INTO arena_vote (id, battle_id, choice, tags, comments, worth_extra_energy, created_at)
            SELECT i + 1, {battle_id.format(i="i")},
                (ARRAY['a', 'b', 'a', 'b', 'tie', 'b', 'a', 'both_bad'])[1 + i % 8],
                '{{"a": ["useful", "clear_formatting"], "b": ["superficial"]}}'::jsonb,
                CASE WHEN i % 5 = 0 THEN '{{"a": "plus clair", "b": ""}}'::jsonb
                     ELSE '{{"a": "", "b": ""}}'::jsonb END,
                CASE WHEN i % 3 = 0 THEN true WHEN i % 3 = 1 THEN NULL ELSE false END, now()
            FROM generate_series(0, {n - 1}) i""",
        ),
        (
            "reactions",
            f"""INSERT INTO arena_reaction (id, message_id, battle_id, turn_index, side, liked, tags, comment,
                updated_at)
            SELECT s / 10 + 1, md5('m' || s)::uuid, {battle_id.format(i="(s / 4)")}, (s / 2) % 2,
                CASE WHEN s % 2 = 0 THEN 'a' ELSE 'b' END, s % 20 = 0, '["useful"]'::jsonb, '', now()
            FROM generate_series(0, {4 * n - 1}, 10) s""",
        ),
    ]
    for name, sql in steps:
        started = time.perf_counter()
        cursor.execute(sql)
        print(f"    {name:<10} {cursor.rowcount:>10,} rows  {time.perf_counter() - started:6.1f} s", flush=True)


def _setup(admin_url: str, sizes: list[int]) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
    url = admin_url.rsplit("/", 1)[0] + "/" + SCRATCH_DB
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("REDIS_URL", None)
    for command in (["migrate", "--noinput", "-v0"], ["load_catalogue"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL
        )
    return url


def _generate(url: str, n: int) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.cursor()
        cursor.execute(
            "TRUNCATE arena_reaction, arena_vote, arena_attempt, arena_message, arena_turn, arena_battle, "
            "arena_visitor CASCADE"
        )
        cursor.execute("SELECT id FROM arena_llm ORDER BY slug")
        model_ids = [row[0] for row in cursor.fetchall()]
        _fill(cursor, n, model_ids)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def _child(out_dir: str, formats: str) -> None:
    """In the child: load Django, note the RSS, export, report as one JSON line."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    import io

    from django.core.management import call_command

    import exports.release  # noqa: F401  (everything the export imports, loaded before the baseline)

    class Progress(io.StringIO):
        """The command's progress lines (one per tenth of the battles), each with the RSS then."""

        rss_mb: list = []

        def write(self, text):
            if "%" in text:
                self.rss_mb.append(_rss_now_mb())
            return super().write(text)

    baseline_mb = _rss_now_mb()
    started = time.perf_counter()
    out, progress = io.StringIO(), Progress()
    call_command("export_dataset", out_dir, "--formats", formats, "--sample", "1000", stdout=out, stderr=progress)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "baseline_mb": baseline_mb,
                "peak_mb": peak_mb,
                "rss_by_tenth_mb": progress.rss_mb,
                "summary": out.getvalue(),
            }
        )
    )


def _rss_now_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _export(url: str, formats: str) -> dict:
    out_dir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    shutil.rmtree(out_dir)
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("REDIS_URL", None)
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(out_dir), "--formats", formats],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        manifest_rows = {}
        for line in (out_dir / "SHA256SUMS").read_text().splitlines():
            path = line.split("  ", 1)[1]
            manifest_rows[path] = (out_dir / path).stat().st_size
        result["bytes"] = sum(manifest_rows.values())
        result["files"] = manifest_rows
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--formats", default="parquet,jsonl")
    parser.add_argument("--admin-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.formats)
        return

    sizes = [_parse_size(s) for s in args.sizes.split(",")]
    print(f"scratch database {SCRATCH_DB}: migrate, demo catalogue", flush=True)
    url = _setup(args.admin_url, sizes)
    results = []
    try:
        for n in sizes:
            print(f"{_label(n)} battles: generating", flush=True)
            generated_s = _generate(url, n)
            print(f"  generated in {generated_s:.0f} s; exporting ({args.formats})", flush=True)
            result = _export(url, args.formats)
            print("  " + result["summary"].strip().replace("\n", "\n  "), flush=True)
            results.append((n, result))
    finally:
        if not args.keep:
            import psycopg

            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")

    print()
    print(f"export_dataset on PostgreSQL, formats {args.formats}, --sample 1000 (child process per size)")
    header = (
        f"{'battles':>9} {'time s':>8} {'battles/s':>10} {'written MB':>11} {'RSS before MB':>14} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for n, r in results:
        print(
            f"{_label(n):>9} {r['seconds']:>8.1f} {n / r['seconds']:>10,.0f} {r['bytes'] / 2**20:>11,.0f} "
            f"{r['baseline_mb']:>14.0f} {r['peak_mb']:>12.0f}"
        )
    if len(results) > 1:
        (n0, r0), (n1, r1) = results[0], results[-1]
        print(
            f"\n{_label(n1)} / {_label(n0)}: battles x{n1 / n0:.0f}, time x{r1['seconds'] / r0['seconds']:.1f}, "
            f"peak RSS x{r1['peak_mb'] / r0['peak_mb']:.2f}, peak RSS above the loaded baseline "
            f"{r0['peak_mb'] - r0['baseline_mb']:.0f} MB -> {r1['peak_mb'] - r1['baseline_mb']:.0f} MB"
        )
    for n, r in results:
        tenths = " ".join(f"{mb:.0f}" for mb in r["rss_by_tenth_mb"])
        print(f"RSS (MB) of the {_label(n)} export at each tenth of its battles: {tenths}")
    n1, r1 = results[-1]
    target = "met" if r1["seconds"] < 60 and r1["peak_mb"] < 1024 else "NOT met"
    print(f"target for {_label(n1)}: under 60 s and under 1024 MB: {target}")


if __name__ == "__main__":
    main()
