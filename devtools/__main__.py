"""`python -m devtools tiny-model OUT_DIR [...]`: build a tiny demo model from the recipe.

The recipe needs torch, which only the engine environment has (requirements/engine-cpu.txt).
Typed in the web environment (.venv), the command runs itself again with the engine's
interpreter (`python_for_engine`: ARENA_ENGINE_PYTHON, or .venv-engine/bin/python); where
there is none, it says what to install rather than dying on `No module named 'torch'`.
"""

import importlib.util
import os
import sys
from pathlib import Path

from . import tiny_model

USAGE = "usage: python -m devtools tiny-model OUT_DIR [options]   (options: python -m devtools tiny-model --help)"
# Set in the environment of the engine interpreter we run, so that an engine environment
# without torch is reported instead of re-running itself forever.
REEXEC_MARK = "ARENA_DEVTOOLS_REEXEC"
INSTALL_HINT = """Install the engine environment from the repository root, with:
    make install
or by hand:
    python3.11 -m venv .venv-engine && .venv-engine/bin/python -m pip install -r requirements/engine-cpu.txt
or point ARENA_ENGINE_PYTHON at a Python that has torch."""


def main(argv: list[str]) -> int:
    if argv[:1] != ["tiny-model"]:
        sys.exit(USAGE)
    # --help and usage errors are answered here, torch or not (tiny_model imports it lazily).
    tiny_model.argument_parser().parse_args(argv[1:])
    if importlib.util.find_spec("torch") is None:  # find, not import: torch takes seconds to load
        run_with_engine_python(argv)  # does not return
    return tiny_model.main(argv[1:])


def run_with_engine_python(argv: list[str]) -> None:
    """Replace this process with the same command under the engine's interpreter."""
    if os.environ.get(REEXEC_MARK):  # before importing inference_workers: an engine env may lack httpx
        sys.exit(f"the engine interpreter {sys.executable} has no torch.\n{INSTALL_HINT}")
    from inference_workers.engines import REPO, python_for_engine

    engine_python = python_for_engine()
    # python_for_engine falls back to this very interpreter when it finds no other.
    if os.path.abspath(engine_python) == os.path.abspath(sys.executable) or not Path(engine_python).is_file():
        sys.exit(
            f"`python -m devtools tiny-model` needs torch, which {sys.executable} does not have, and "
            f"there is no engine interpreter (ARENA_ENGINE_PYTHON, or {REPO / '.venv-engine/bin/python'}).\n"
            f"{INSTALL_HINT}"
        )
    # The repository on the path: the engine interpreter must find `devtools` from any directory.
    python_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, REEXEC_MARK: "1", "PYTHONPATH": python_path}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(engine_python, [engine_python, "-m", "devtools", *argv], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
