"""Power sources: cumulative energy counters that the meter samples.

Each source answers `read_energy_j()`, a monotonic cumulative energy in joules since it
was opened, and says how it measures (`method`, `measured`, `devices`). In order of
preference:

* `NvmlSource`: every GPU the engine uses, summed. The hardware energy counter
  (`nvmlDeviceGetTotalEnergyConsumption`, millijoules, Volta and newer) where the GPU has
  it; otherwise power polling (`nvmlDeviceGetPowerUsage`, milliwatts) integrated by the
  trapezoid rule at each read. MIG is refused: the counter covers the whole GPU, so a
  MIG slice would be charged its neighbours' work.
* `RaplSource`: Intel/AMD package counters under /sys/class/powercap, where readable;
  also read beside an NVML source (`open_host_cpu_source`), for the record's `cpu_j`.
* `CpuTimeSource`: CPU seconds of the engine (or of the machine) times a per-core power
  constant from fixtures/meter.yaml. An estimate, labelled `measured: false`.
* `NullSource` (`--meter off`): no metering at all, for benchmarks of the meter's own cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POWERCAP = Path("/sys/class/powercap")
log = logging.getLogger("inference_workers.power")


class MeterError(RuntimeError):
    """The requested power source cannot be used here; the message says why."""


class MigRefused(MeterError):
    """A GPU is in MIG mode: no honest per-request figure, and no silent fallback either."""


class PowerSource:
    method: str = ""
    measured: bool = False
    kind: str = ""  # "gpu" or "cpu": which field of the energy record it fills
    devices: list[str]

    def read_energy_j(self) -> float:
        raise NotImplementedError

    def power_w(self) -> float | None:
        """Instantaneous power where the source can say; None otherwise."""
        return None

    def close(self) -> None:
        pass


class NvmlSource(PowerSource):
    kind = "gpu"
    measured = True

    def __init__(self, gpu_indices: list[int] | None = None, nvml=None, clock: Callable[[], float] = time.monotonic):
        if nvml is None:
            try:
                import pynvml as nvml  # provided by the nvidia-ml-py package
            except ImportError as exc:  # pragma: no cover - the package is a pinned dependency
                raise MeterError("nvidia-ml-py is not installed") from exc
        self._nvml = nvml
        self._clock = clock
        self._lock = threading.Lock()
        try:
            nvml.nvmlInit()
        except Exception as exc:
            raise MeterError(f"NVML is not available here: {exc}") from exc
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            raise MeterError("NVML found no GPU")
        indices = gpu_indices if gpu_indices else list(range(count))
        for index in indices:
            if index < 0 or index >= count:
                raise MeterError(f"GPU {index} does not exist (NVML sees {count})")
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
        self.devices = [_text(nvml.nvmlDeviceGetName(h)) for h in self._handles]
        for index, handle in zip(indices, self._handles, strict=True):
            self._refuse_mig(index, handle)
        self._uses_counter = [self._has_counter(h) for h in self._handles]
        self.method = "nvml" if all(self._uses_counter) else "nvml-power-polling"
        now = clock()
        self._counter_start_mj = [
            nvml.nvmlDeviceGetTotalEnergyConsumption(h) if uses else 0
            for h, uses in zip(self._handles, self._uses_counter, strict=True)
        ]
        self._polled_j = [0.0 for _ in self._handles]
        self._last_poll = [
            (now, self._read_power_w(h)) if not uses else None
            for h, uses in zip(self._handles, self._uses_counter, strict=True)
        ]

    def _refuse_mig(self, index: int, handle) -> None:
        nvml = self._nvml
        try:
            current, _pending = nvml.nvmlDeviceGetMigMode(handle)
        except Exception:
            return  # GPUs without MIG support raise NotSupported
        if current == getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
            raise MigRefused(
                f"GPU {index} is in MIG mode: NVML's energy counter covers the whole GPU, so it "
                "cannot be split between MIG instances honestly. Disable MIG for this GPU or "
                "run the worker with --meter cpu (an estimate)."
            )

    def _has_counter(self, handle) -> bool:
        try:
            self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            return True
        except Exception:
            return False

    def _read_power_w(self, handle) -> float:
        return self._nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0

    def read_energy_j(self) -> float:
        with self._lock:
            total_j = 0.0
            now = self._clock()
            for i, handle in enumerate(self._handles):
                if self._uses_counter[i]:
                    mj = self._nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                    total_j += (mj - self._counter_start_mj[i]) / 1000.0
                else:
                    last_t, last_w = self._last_poll[i]
                    power_w = self._read_power_w(handle)
                    self._polled_j[i] += (now - last_t) * (power_w + last_w) / 2.0
                    self._last_poll[i] = (now, power_w)
                    total_j += self._polled_j[i]
            return total_j

    def power_w(self) -> float | None:
        try:
            return sum(self._read_power_w(h) for h in self._handles)
        except Exception:
            return None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # shutting down: nothing left to report to
            self._nvml.nvmlShutdown()


class RaplSource(PowerSource):
    kind = "cpu"
    measured = True
    method = "rapl"

    def __init__(self, root: Path = POWERCAP):
        # Top-level package domains only (intel-rapl:0, not intel-rapl:0:0): sub-zones are
        # parts of the package and would be counted twice.
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1) if root.exists() else []
        readable = []
        for zone in zones:
            try:
                int((zone / "energy_uj").read_text())
                readable.append(zone)
            except (OSError, ValueError):
                continue
        if not readable:
            raise MeterError(f"no readable RAPL counter under {root}")
        self._zones = readable
        self._max_uj = [int((z / "max_energy_range_uj").read_text()) for z in readable]
        self._last_uj = [int((z / "energy_uj").read_text()) for z in readable]
        self._total_uj = [0 for _ in readable]
        self._lock = threading.Lock()
        self.devices = [(z / "name").read_text().strip() if (z / "name").exists() else z.name for z in readable]

    def read_energy_j(self) -> float:
        with self._lock:
            for i, zone in enumerate(self._zones):
                now_uj = int((zone / "energy_uj").read_text())
                delta = now_uj - self._last_uj[i]
                if delta < 0:  # the counter wrapped around
                    delta += self._max_uj[i]
                self._total_uj[i] += delta
                self._last_uj[i] = now_uj
            return sum(self._total_uj) / 1e6


class NullSource(PowerSource):
    """Metering off: a counter that never moves. The meter skips its work for it."""

    kind = "none"
    measured = False
    method = "off"

    def __init__(self):
        self.devices = []

    def read_energy_j(self) -> float:
        return 0.0


def load_meter_constants() -> dict:
    with open(FIXTURES / "meter.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def default_sampling_period_s() -> float:
    """Seconds between two power readings unless `--sampling-period` says otherwise
    (fixtures/meter.yaml says why this value)."""
    return float(load_meter_constants()["default_sampling_period_s"]["value"])


class CpuTimeSource(PowerSource):
    """CPU seconds x watts per busy core: an estimate, never a measurement."""

    kind = "cpu"
    measured = False
    method = "cpu-time-model"
    TREE_REFRESH_S = 2.0

    def __init__(self, pid: int | None = None, watts_per_core: float | None = None, proc: Path = Path("/proc")):
        self._pid = pid
        self._proc = proc
        self._ticks_per_s = os.sysconf("SC_CLK_TCK")
        if watts_per_core is None:
            watts_per_core = float(load_meter_constants()["cpu_watts_per_core"]["value"])
        self.watts_per_core = watts_per_core
        self.devices = [f"{os.cpu_count()} CPU cores (model: {watts_per_core:g} W per busy core)"]
        self._lock = threading.Lock()
        self._tree: list[int] = []
        self._tree_read_at = float("-inf")
        self._banked_j = self._last_j = 0.0
        self._start_cpu_s = self._cpu_s()

    def _cpu_s(self) -> float:
        if self._pid is None:
            # Whole machine: busy jiffies from the first line of /proc/stat.
            fields = (self._proc / "stat").read_text().split("\n", 1)[0].split()[1:]
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
            return (user + nice + system + irq + softirq + steal) / self._ticks_per_s
        now = time.monotonic()
        if now - self._tree_read_at > self.TREE_REFRESH_S:
            # Walking /proc costs milliseconds; the engine's process tree rarely changes.
            self._tree = _process_tree(self._proc, self._pid)
            self._tree_read_at = now
        return sum(_process_cpu_ticks(self._proc, pid) for pid in self._tree) / self._ticks_per_s

    def read_energy_j(self) -> float:
        with self._lock:
            # Never back: a process of the tree that exits unreaped takes its CPU time along.
            now_j = self._banked_j + max(self._cpu_s() - self._start_cpu_s, 0.0) * self.watts_per_core
            self._last_j = max(self._last_j, now_j)
            return self._last_j

    def follow(self, pid: int) -> None:
        """Read a new engine process (restarted after a crash): what the old one used stays
        counted, so the counter never goes back."""
        with self._lock:
            self._banked_j = self._last_j
            self._pid = pid
            self._tree_read_at = float("-inf")
            self._start_cpu_s = self._cpu_s()


def _process_cpu_ticks(proc: Path, pid: int) -> int:
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return 0
    # The command name may hold spaces: the fields after it start after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    # utime + stime, and cutime + cstime: children that already exited and were reaped
    # (a short-lived helper process of the engine) count through their parent.
    return int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])


def _process_tree(proc: Path, root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def open_power_source(
    kind: str = "auto", *, gpus: list[int] | None = None, engine_pid: int | None = None
) -> PowerSource:
    """The best source available for `kind` ("auto", "nvml", "rapl", "cpu"), or none ("off")."""
    if kind not in {"auto", "nvml", "rapl", "cpu", "off"}:
        raise MeterError(f"unknown meter {kind!r}: use auto, nvml, rapl, cpu or off")
    if kind == "off":
        return NullSource()
    if kind in {"auto", "nvml"}:
        try:
            return NvmlSource(gpus)
        except MigRefused:
            raise
        except MeterError as exc:
            if kind == "nvml":
                raise
            log.warning("no NVML source (%s); trying RAPL", exc)
    if kind in {"auto", "rapl"}:
        try:
            return RaplSource()
        except MeterError as exc:
            if kind == "rapl":
                raise
            log.warning("no RAPL source (%s); estimating from CPU time (measured: false)", exc)
    return CpuTimeSource(pid=engine_pid)


def open_host_cpu_source(main: PowerSource, root: Path = POWERCAP) -> PowerSource | None:
    """The host's CPU package counters (RAPL) to read beside a GPU source, where readable.

    None beside a CPU source (its figure already is the host's) and where RAPL cannot be
    read (root-only since the PLATYPUS fix, CVE-2020-8694): `cpu_j` then stays empty."""
    if main.kind != "gpu":
        return None
    try:
        return RaplSource(root)
    except MeterError as exc:
        log.info("no host CPU counter beside the GPUs (%s): cpu_j stays empty", exc)
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
