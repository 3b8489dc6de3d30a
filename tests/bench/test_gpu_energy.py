"""bench/gpu_energy.py on a machine without a GPU: it refuses to run without NVML, and its
--dry-run goes through the whole pipeline (model, worker with `--meter nvml`, load levels,
conservation, fidelity) with the NVML stand-in of devtools/nvml_standin.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inference_workers.engines import REPO
from tests.inference_workers.test_power import nvml_works_here

BENCH = [sys.executable, str(REPO / "bench" / "gpu_energy.py")]


@pytest.mark.skipif(nvml_works_here(), reason="this machine has NVML")
def test_it_fails_loudly_without_nvml_and_does_not_fall_back(tmp_path):
    done = subprocess.run([*BENCH, "--out", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "NVML is not available here" in done.stderr and "does not fall back" in done.stderr
    assert not (tmp_path / "out.json").exists()


@pytest.mark.slow
def test_its_dry_run_measures_through_the_nvml_standin_on_cpu(tmp_path):
    out = tmp_path / "gpu-energy.json"
    done = subprocess.run(
        [
            *BENCH,
            "--dry-run",
            "--out",
            str(out),
            "--concurrency",
            "1",
            "3",
            "--rounds",
            "1",
            "--max-tokens",
            "8",
            "--idle-s",
            "0.5",
            "--probe-s",
            "0.3",
            "--fidelity-requests",
            "3",
            "--fidelity-repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["device"].startswith("NVML stand-in")
    assert result["engine"] == "transformers serve --continuous-batching"
    assert result["counter_refresh_s"] > 0 and result["idle_power_w"] >= 0
    assert [level["concurrency"] for level in result["load"]] == [1, 3]
    for level in result["load"]:
        assert level["j_per_request"] > 0 and level["j_per_output_token"] > 0
        assert level["requests"] == level["concurrency"]
    assert result["conservation_holds"] is True
    assert result["conservation"]["read_vs_charged_plus_idle"] <= 1e-3
    fidelity = result["fidelity"]
    assert set(fidelity["summary"]) == {"at_once", "random"}
    assert {"mae_pp", "worst_pp", "rank_correlation", "saved"} <= set(fidelity["summary"]["at_once"])
    records = [r for run in fidelity["runs"].values() for r in run["records"]]
    assert {r["method"] for r in records} == {"nvml"} and all(
        r["measured"] for r in records
    )  # the stand-in, read as NVML
    assert "DRY RUN" in done.stdout
