"""`ranking` and `footprint` import and fit in a virtual environment holding only numpy and scipy.

The pure cores must not lean on the web stack (Django, Celery) or on anything the project happens
to have installed, so this test builds a venv with exactly the numpy and scipy pins of
requirements/base.txt and runs a fit there in a subprocess. The venv is kept under var/venvs/,
keyed by the pins, so only the first run (or a change of pin) pays for pip; pip's own cache makes
even that quick after the first time on a machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from ranking import fit_bradley_terry, simulate_battles, statistical_tiers

REPO = Path(__file__).resolve().parents[2]
VENVS = REPO / "var" / "venvs"
PINNED = ("numpy", "scipy")

# Runs inside the isolated venv; prints the fit as JSON for the test to compare.
FIT_SCRIPT = """
import importlib.util, json, sys, sysconfig
from importlib import metadata

import ranking, footprint

site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
installed = sorted({dist.metadata["Name"].lower() for dist in metadata.distributions(path=site)} - {"pip"})
heavy = ("django", "celery", "yaml", "ecologits", "pydantic", "hypothesis", "pytest")
sim = ranking.simulate_battles({"x": 1100.0, "y": 1000.0, "z": 900.0}, 3000, tie_rate=0.1, seed=0)
result = ranking.fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=50)
print(json.dumps({
    "installed": installed,
    "loaded": sorted(name for name in heavy if name in sys.modules),
    "findable": sorted(name for name in heavy if importlib.util.find_spec(name) is not None),
    "names": list(result.names),
    "ratings": result.ratings.tolist(),
    "lower": result.lower.tolist(),
    "tiers": ranking.statistical_tiers(result.ratings, result.lower, result.upper).tolist(),
}))
"""


def _pins() -> dict[str, str]:
    text = (REPO / "requirements" / "base.txt").read_text(encoding="utf-8")
    pins = dict(re.findall(rf"^({'|'.join(PINNED)})==(\S+)", text, flags=re.MULTILINE))
    assert set(pins) == set(PINNED), f"requirements/base.txt should pin {PINNED}, found {pins}"
    return pins


def _numpy_scipy_venv() -> Path:
    pins = _pins()
    venv = VENVS / "-".join(f"{name}-{pins[name]}" for name in PINNED)
    python = venv / "bin" / "python"
    ready = venv / ".ready"  # written last: a venv without it was cut short and is rebuilt
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once must not build the same venv
        if not ready.exists():
            shutil.rmtree(venv, ignore_errors=True)
            # The interpreter this venv was made from, not this venv: the new one must see none of
            # the project's packages (no --system-site-packages either).
            base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
            subprocess.run([base_python, "-m", "venv", venv], check=True, capture_output=True, timeout=120)
            install = subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--quiet",
                    *(f"{name}=={pins[name]}" for name in PINNED),
                ],
                capture_output=True,
                text=True,
                timeout=280,
            )
            assert install.returncode == 0, f"pip install failed:\n{install.stdout}\n{install.stderr}"
            ready.write_text(json.dumps(pins), encoding="utf-8")
    return python


def test_it_fits_in_a_venv_holding_only_numpy_and_scipy(tmp_path):
    python = _numpy_scipy_venv()
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO)}
    # -s: no user site-packages; cwd outside the repo so only PYTHONPATH puts it on the path.
    run = subprocess.run(
        [python, "-s", "-c", FIT_SCRIPT],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    isolated = json.loads(run.stdout)

    assert isolated["installed"] == ["numpy", "scipy"]
    assert isolated["findable"] == [] and isolated["loaded"] == []
    sim = simulate_battles({"x": 1100.0, "y": 1000.0, "z": 900.0}, 3000, tie_rate=0.1, seed=0)
    here = fit_bradley_terry(sim.model_a, sim.model_b, sim.outcome, names=sim.names, bootstrap=50)
    assert isolated["names"] == list(here.names)
    assert np.allclose(isolated["ratings"], here.ratings, atol=1e-9)
    assert np.allclose(isolated["lower"], here.lower, atol=1e-9)
    assert isolated["tiers"] == statistical_tiers(here.ratings, here.lower, here.upper).tolist()
