"""Power sources: cumulative energy counters that the meter samples.

Each source answers `read_energy_j()`, a monotonic cumulative energy in joules since it
was opened, and says how it measures (`method`, `measured`, `devices`). In order of
preference:

* `NvmlSource`: every GPU the engine uses, summed. The hardware energy counter
  (`nvmlDeviceGetTotalEnergyConsumption`, millijoules, Volta and newer) where the GPU has
  it (`nvml`); otherwise power polling (`nvmlDeviceGetPowerUsage`, milliwatts) integrated
  by the trapezoid rule at each read (`nvml-power-polling`). Both `measured: true`. MIG is
  refused: the counter covers the whole GPU, so a MIG slice would be charged its
  neighbours' work. Opened by `auto` only where the engine uses a GPU (`--gpus`, or an
  engine on CUDA): a CPU engine on a GPU host is never charged the GPUs' draw.
* `RaplSource`: Intel/AMD package counters under /sys/class/powercap, where readable: a
  hardware counter, so `measured: true`, but of the whole package, shared by every process
  on it. Also read beside an NVML source (`open_host_cpu_source`), for the record's `cpu_j`.
* `CpuTimeSource`: CPU seconds of the engine's process tree (or, attached to an engine
  with `--upstream`, of the whole host) times a power per busy core from
  fixtures/meter.yaml, divided by the hardware threads per core (/proc counts CPU time per
  logical CPU). An estimate, labelled `measured: false`.
* `NullSource` (`--meter off`): no metering at all, for benchmarks of the meter's own cost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POWERCAP = Path("/sys/class/powercap")
log = logging.getLogger("inference_workers.power")


class MeterError(RuntimeError):
    """The requested power source cannot be used here; the message says why."""


class MigRefused(MeterError):
    """A GPU is in MIG mode: no honest per-request figure, and no silent fallback either."""


class GpuSelectionError(MeterError):
    """The GPUs the engine uses cannot be told to NVML: no silent fallback to other devices."""


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
        """`gpu_indices` in NVML's (PCI bus) order; None: every GPU NVML sees."""
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
        indices = list(range(count)) if gpu_indices is None else list(gpu_indices)
        if not indices:
            raise MeterError("no GPU to meter")
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
    """The CPU packages' RAPL energy counters: a hardware counter, hence `measured: true`,
    but of each whole package (cores, caches, memory controller), shared by every process
    the host runs: the web server, a database, other workers are in it too."""

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
    """CPU seconds x watts per busy logical CPU: an estimate, never a measurement.

    The constant of fixtures/meter.yaml is a power per busy *physical* core (a CPU's TDP
    divided by its cores), while /proc counts CPU time per *logical* CPU: with SMT (two
    hardware threads per core) two busy threads are one busy core. So a CPU second is
    charged `watts_per_core / threads_per_core`, the threads per core read from
    /proc/cpuinfo. Every thread of a core busy: the core's power, split between its threads.
    One thread busy beside an idle sibling: charged half a core while the core draws more
    than that, an underestimate by up to 2x with two threads per core (the old per-core
    charge overestimated the first case by up to 2x instead).
    Without an engine pid (`--upstream`) it counts the whole host's CPU time: the web
    server, a database, other workers included; its `devices` say so."""

    kind = "cpu"
    measured = False
    method = "cpu-time-model"
    TREE_REFRESH_S = 2.0

    def __init__(
        self,
        pid: int | None = None,
        watts_per_core: float | None = None,
        proc: Path = Path("/proc"),
        threads_per_core: float | None = None,
    ):
        self._pid = pid
        self._proc = proc
        self._ticks_per_s = os.sysconf("SC_CLK_TCK")
        if watts_per_core is None:
            watts_per_core = float(load_meter_constants()["cpu_watts_per_core"]["value"])
        self.watts_per_core = watts_per_core  # per busy physical core
        if threads_per_core is None:
            threads_per_core = cpu_threads_per_core(proc)
        known = threads_per_core is not None
        threads_per_core = threads_per_core or 1.0
        self.threads_per_core = threads_per_core
        self.watts_per_cpu = watts_per_core / threads_per_core  # per busy logical CPU, what /proc counts
        scope = "whole host, every process's CPU time" if pid is None else "engine process tree"
        threads = f"{threads_per_core:g} per physical core" if known else "threads per core unknown, taken as 1"
        self.devices = [
            f"{scope}: {os.cpu_count()} logical CPUs, {threads} "
            f"(model: {watts_per_core:g} W per busy physical core, {self.watts_per_cpu:g} W per busy logical CPU)"
        ]
        self._lock = threading.Lock()
        self._tree: list[int] = []
        self._tree_read_at = float("-inf")
        self._banked_j = self._last_j = 0.0
        self._start_cpu_s = self._cpu_s()

    @property
    def whole_host(self) -> bool:
        return self._pid is None

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
            now_j = self._banked_j + max(self._cpu_s() - self._start_cpu_s, 0.0) * self.watts_per_cpu
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


def cpu_threads_per_core(proc: Path = Path("/proc")) -> float | None:
    """Logical CPUs per physical core, from /proc/cpuinfo: `processor` entries over distinct
    (`physical id`, `core id`) pairs. None where cpuinfo does not say (no core ids, as on
    some ARM machines and VMs)."""
    try:
        text = (proc / "cpuinfo").read_text()
    except OSError:
        return None
    logical, cores = 0, set()
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if "processor" not in fields:
            continue
        logical += 1
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    if not logical or not cores:
        return None
    return logical / len(cores)


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


def gpus_to_meter(gpus: list[int] | None, environ: Mapping[str, str] | None = None) -> list[int] | None:
    """The NVML indices of the GPUs the engine uses: `--gpus`, else CUDA_VISIBLE_DEVICES
    (indices only, in PCI bus order as NVML numbers them), else None (every GPU NVML sees)."""
    if gpus:
        return list(gpus)
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    indices = []
    for item in visible.split(",") if visible.strip() else []:
        item = item.strip()
        if not item.lstrip("-").isdigit():
            raise GpuSelectionError(
                f"CUDA_VISIBLE_DEVICES={visible!r} names GPUs the meter cannot map to NVML indices: "
                "list them by index with --gpus"
            )
        if int(item) < 0:
            break  # CUDA ignores an invalid index and everything after it
        indices.append(int(item))
    if not indices:
        raise GpuSelectionError(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU: nothing to meter with NVML")
    order = environ.get("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    if order != "PCI_BUS_ID":
        raise GpuSelectionError(
            f"CUDA_VISIBLE_DEVICES counts GPUs in CUDA_DEVICE_ORDER={order} order, NVML in PCI bus order: "
            "set CUDA_DEVICE_ORDER=PCI_BUS_ID or list the GPUs with --gpus"
        )
    return indices


def open_power_source(
    kind: str = "auto",
    *,
    gpus: list[int] | None = None,
    engine_pid: int | None = None,
    engine_on_gpu: bool = False,
    environ: Mapping[str, str] | None = None,
) -> PowerSource:
    """The best source available for `kind` ("auto", "nvml", "rapl", "cpu"), or none ("off").

    `auto` reads NVML only where the engine uses a GPU: GPUs named with `gpus` (--gpus), or
    an engine on CUDA (`engine_on_gpu`), whose GPUs are then those of CUDA_VISIBLE_DEVICES,
    else every GPU NVML sees. A CPU engine on a GPU host is metered on the CPU (RAPL, else
    the CPU-time model): NVML would charge it the GPUs' draw, and every such worker the same
    GPUs' idle power. `nvml` reads the named GPUs, else every GPU, whatever the engine."""
    if kind not in {"auto", "nvml", "rapl", "cpu", "off"}:
        raise MeterError(f"unknown meter {kind!r}: use auto, nvml, rapl, cpu or off")
    if kind == "off":
        return NullSource()
    if kind == "auto" and not gpus and not engine_on_gpu:
        log.info("the engine runs on CPU and no GPU is named (--gpus): NVML is not read")
    elif kind in {"auto", "nvml"}:
        try:
            indices = gpus_to_meter(gpus, environ)
            if indices is None:
                log.warning("no GPU named (--gpus, CUDA_VISIBLE_DEVICES): metering every GPU NVML sees")
            return NvmlSource(indices)
        except (MigRefused, GpuSelectionError):
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
