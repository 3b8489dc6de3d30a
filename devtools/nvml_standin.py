"""A stand-in for the `pynvml` module (nvidia-ml-py), for machines without an NVIDIA GPU.

The tests hand `NvmlSource` a `FakeNvml` whose GPUs' counters they set themselves. Put on
`sys.path` under the name `pynvml` (`standin_path`), this module plays one GPU whose energy
counter follows the machine's busy CPU time times the CPU-time model's watts per core,
refreshed every REFRESH_S as a real counter is: `bench/gpu_energy.py --dry-run` runs its whole
pipeline on CPU with it, the worker's `--meter nvml` included. Its figures describe this
machine's CPUs, never a GPU.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

NVML_DEVICE_MIG_ENABLE = 1
REFRESH_S = 0.02  # a stand-in value: bench/gpu_energy.py reports the real counter's


class NVMLError(Exception):
    """What pynvml raises (NotSupported, Uninitialized...)."""


class FakeGpu:
    def __init__(
        self,
        name: bytes | str = b"NVIDIA H100 80GB HBM3",
        energy_mj: int | None = 0,
        power_mw: int = 0,
        mig: int | None = None,
    ):
        self.name = name
        self.energy_mj = energy_mj  # None: no energy counter (pre-Volta)
        self.power_mw = power_mw
        self.mig = mig  # None: MIG not supported; 0 disabled; 1 enabled


class CpuDrivenGpu(FakeGpu):
    """A GPU whose counter is the machine's busy CPU seconds x watts per core, in mJ."""

    def __init__(self):
        from inference_workers.power import CpuTimeSource  # the worker's own model and constant

        self._cpu = CpuTimeSource(pid=None)
        self.name = f"NVML stand-in ({self._cpu.devices[0]})"
        self.mig = None
        self._energy_mj, self._read_at = 0, float("-inf")

    @property
    def energy_mj(self) -> int:
        now = time.monotonic()
        if now - self._read_at >= REFRESH_S:
            self._energy_mj = int(self._cpu.read_energy_j() * 1000)
            self._read_at = now
        return self._energy_mj

    @property
    def power_mw(self) -> int:
        return int(self._cpu.watts_per_core * 1000)


class FakeNvml:
    """The part of the pynvml module NvmlSource uses; handles are GPU indices."""

    NVML_DEVICE_MIG_ENABLE = NVML_DEVICE_MIG_ENABLE

    def __init__(self, gpus: list[FakeGpu], init_error: Exception | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.shut_down = False

    def nvmlInit(self):
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self):
        self.shut_down = True

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return self.gpus[handle].name

    def nvmlDeviceGetMigMode(self, handle):
        if self.gpus[handle].mig is None:
            raise NVMLError("Not Supported")
        return self.gpus[handle].mig, self.gpus[handle].mig

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.gpus[handle].energy_mj is None:
            raise NVMLError("Not Supported")
        return self.gpus[handle].energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.gpus[handle].power_mw


_standin: FakeNvml | None = None


def _machine() -> FakeNvml:
    global _standin
    if _standin is None:
        _standin = FakeNvml([CpuDrivenGpu()])
    return _standin


# The module-level API, as `import pynvml` offers it.
def nvmlInit():
    _machine().nvmlInit()


def nvmlShutdown():
    _machine().nvmlShutdown()


def nvmlDeviceGetCount():
    return _machine().nvmlDeviceGetCount()


def nvmlDeviceGetHandleByIndex(index):
    return _machine().nvmlDeviceGetHandleByIndex(index)


def nvmlDeviceGetName(handle):
    return _machine().nvmlDeviceGetName(handle)


def nvmlDeviceGetMigMode(handle):
    return _machine().nvmlDeviceGetMigMode(handle)


def nvmlDeviceGetTotalEnergyConsumption(handle):
    return _machine().nvmlDeviceGetTotalEnergyConsumption(handle)


def nvmlDeviceGetPowerUsage(handle):
    return _machine().nvmlDeviceGetPowerUsage(handle)


def standin_path(folder: Path) -> str:
    """A PYTHONPATH under which `import pynvml` is this module (in `folder`, then the repo)."""
    repo = Path(__file__).resolve().parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pynvml.py").write_text(
        '"""Written by devtools/nvml_standin.py: a stand-in NVML, not nvidia-ml-py."""\n'
        "from devtools.nvml_standin import *  # noqa: F403\n"
    )
    return os.pathsep.join([str(folder), str(repo), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
