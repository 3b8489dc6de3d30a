"""Power sources: NVML (through a stand-in NVML module: no GPU here), RAPL on a sysfs
tree written under tmp_path (alone, and beside a GPU for `cpu_j`), the CPU-time model on
the real /proc, and the choice of source by `open_power_source`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from devtools.nvml_standin import FakeGpu, FakeNvml, NVMLError
from inference_workers.meter import Meter
from inference_workers.power import (
    FIXTURES,
    CpuTimeSource,
    MeterError,
    NullSource,
    NvmlSource,
    RaplSource,
    cpu_threads_per_core,
    open_host_cpu_source,
    open_power_source,
)


# -- NVML ----------------------------------------------------------------------------
class Clock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_nvml_sums_the_energy_counters_of_all_gpus_in_joules_from_the_start():
    gpus = [FakeGpu(energy_mj=5_000_000), FakeGpu(energy_mj=7_000_000)]
    source = NvmlSource(nvml=FakeNvml(gpus))
    assert source.method == "nvml" and source.measured is True and source.kind == "gpu"
    assert source.read_energy_j() == 0.0  # relative to the counters at opening
    gpus[0].energy_mj += 1_500  # 1.5 J
    gpus[1].energy_mj += 40_250  # 40.25 J
    assert source.read_energy_j() == pytest.approx(41.75)
    gpus[1].energy_mj += 1_000
    assert source.read_energy_j() == pytest.approx(42.75)


def test_nvml_meters_only_the_gpus_asked_for():
    gpus = [FakeGpu(energy_mj=0), FakeGpu(energy_mj=0), FakeGpu(energy_mj=0)]
    source = NvmlSource([0, 2], nvml=FakeNvml(gpus))
    gpus[0].energy_mj = 1_000
    gpus[1].energy_mj = 1_000_000  # another model's GPU
    gpus[2].energy_mj = 2_000
    assert source.read_energy_j() == pytest.approx(3.0)
    assert len(source.devices) == 2


def test_nvml_integrates_polled_power_by_the_trapezoid_rule_without_a_counter():
    gpu = FakeGpu(energy_mj=None, power_mw=100_000)  # 100 W
    clock = Clock(10.0)
    source = NvmlSource(nvml=FakeNvml([gpu]), clock=clock)
    assert source.method == "nvml-power-polling" and source.measured is True
    clock.t, gpu.power_mw = 12.0, 200_000  # 2 s from 100 W to 200 W: 300 J
    assert source.read_energy_j() == pytest.approx(300.0)
    clock.t = 13.0  # 1 s at 200 W
    assert source.read_energy_j() == pytest.approx(500.0)
    assert source.read_energy_j() == pytest.approx(500.0)  # no time passed, no energy
    assert source.power_w() == pytest.approx(200.0)


def test_nvml_with_one_gpu_lacking_the_counter_polls_it_and_says_so():
    new, old = FakeGpu(energy_mj=1_000_000), FakeGpu(name=b"Tesla P100", energy_mj=None, power_mw=50_000)
    clock = Clock(0.0)
    source = NvmlSource(nvml=FakeNvml([new, old]), clock=clock)
    assert source.method == "nvml-power-polling"
    clock.t = 4.0
    new.energy_mj += 10_000  # 10 J from the counter
    assert source.read_energy_j() == pytest.approx(10.0 + 4.0 * 50.0)  # + 200 J polled


def test_nvml_refuses_a_gpu_in_mig_mode_and_says_why():
    gpus = [FakeGpu(mig=0), FakeGpu(mig=1)]
    with pytest.raises(MeterError, match="GPU 1 is in MIG mode") as err:
        NvmlSource(nvml=FakeNvml(gpus))
    assert "--meter cpu" in str(err.value)  # and how to go on
    NvmlSource([0], nvml=FakeNvml(gpus))  # the other GPU, MIG disabled, is fine


@pytest.mark.parametrize("indices", [[2], [-1], [0, 5]])
def test_nvml_rejects_a_gpu_index_that_does_not_exist(indices):
    with pytest.raises(MeterError, match="does not exist"):
        NvmlSource(indices, nvml=FakeNvml([FakeGpu(), FakeGpu()]))


def test_nvml_init_failure_is_a_meter_error():
    with pytest.raises(MeterError, match="NVML is not available here: Driver Not Loaded"):
        NvmlSource(nvml=FakeNvml([FakeGpu()], init_error=NVMLError("Driver Not Loaded")))
    with pytest.raises(MeterError, match="no GPU"):
        NvmlSource(nvml=FakeNvml([]))


def test_nvml_device_names_are_text_whether_nvml_gives_bytes_or_str():
    source = NvmlSource(nvml=FakeNvml([FakeGpu(name=b"NVIDIA A100-SXM4-80GB"), FakeGpu(name="NVIDIA L4")]))
    assert source.devices == ["NVIDIA A100-SXM4-80GB", "NVIDIA L4"]
    fake = source._nvml
    source.close()
    assert fake.shut_down


# -- RAPL ------------------------------------------------------------------------------
def rapl_zone(root: Path, name: str, label: str, energy_uj: int, max_uj: int = 262_143_328_850) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (zone / "name").write_text(f"{label}\n")
    return zone


def set_uj(zone: Path, value: int) -> None:
    (zone / "energy_uj").write_text(f"{value}\n")


def test_rapl_reads_package_zones_and_not_their_sub_zones(tmp_path):
    pkg0 = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    pkg1 = rapl_zone(tmp_path, "intel-rapl:1", "package-1", 5_000_000)
    core = rapl_zone(tmp_path, "intel-rapl:0:0", "core", 300_000)  # part of package-0
    source = RaplSource(tmp_path)
    assert source.devices == ["package-0", "package-1"]
    assert source.method == "rapl" and source.measured is True and source.kind == "cpu"
    assert source.read_energy_j() == 0.0
    set_uj(pkg0, 3_500_000)  # +2.5 J
    set_uj(pkg1, 5_500_000)  # +0.5 J
    set_uj(core, 900_000_000)  # would add 899.7 J if counted
    assert source.read_energy_j() == pytest.approx(3.0)


def test_rapl_handles_a_counter_that_wraps_around(tmp_path):
    pkg = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 900_000, max_uj=1_000_000)
    source = RaplSource(tmp_path)
    set_uj(pkg, 950_000)
    assert source.read_energy_j() == pytest.approx(0.05)
    set_uj(pkg, 100_000)  # wrapped: 50_000 to the top, then 100_000
    assert source.read_energy_j() == pytest.approx(0.2)
    set_uj(pkg, 400_000)
    assert source.read_energy_j() == pytest.approx(0.5)


def test_rapl_without_a_readable_zone_is_a_meter_error(tmp_path):
    with pytest.raises(MeterError, match="no readable RAPL counter"):
        RaplSource(tmp_path / "absent")
    (tmp_path / "intel-rapl:0").mkdir()  # a zone without energy_uj (as when it is root-only)
    (tmp_path / "intel-rapl:1").mkdir()
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("garbage\n")
    rapl_zone(tmp_path, "intel-rapl:0:0", "core", 10)  # sub-zones do not count
    with pytest.raises(MeterError, match="no readable RAPL counter"):
        RaplSource(tmp_path)


def test_rapl_beside_a_gpu_fills_cpu_j_with_the_same_split(tmp_path):
    pkg = rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    gpu = FakeGpu(energy_mj=0)
    source = NvmlSource(nvml=FakeNvml([gpu]))
    host = open_host_cpu_source(source, root=tmp_path)
    assert isinstance(host, RaplSource)
    clock = Clock(0.0)
    meter = Meter(source, period_s=1.0, clock=clock, host_source=host)
    meter.begin("a", 10)
    clock.t, gpu.energy_mj, _ = 1.0, 3_000, set_uj(pkg, 1_000_000)
    meter.begin("b", 10)  # a alone until here: 3 J on the GPU, 1 J on the CPU
    meter.first_token("a")
    meter.first_token("b")
    clock.t, gpu.energy_mj, _ = 2.0, 7_000, set_uj(pkg, 3_000_000)
    meter.add_tokens("a", 1)
    meter.add_tokens("b", 3)  # b did 3/4 of the decode: 4 J GPU and 2 J CPU shared 1:3
    a = meter.record(meter.finish("a", prompt_tokens=10, completion_tokens=1), prompt_tokens=10, completion_tokens=1)
    b = meter.record(meter.finish("b", prompt_tokens=10, completion_tokens=3), prompt_tokens=10, completion_tokens=3)
    assert a.method == "nvml" and a.energy_j == a.gpu_j == pytest.approx(3.0 + 1.0)
    assert a.cpu_j == pytest.approx(1.0 + 0.5)  # beside gpu_j, not added to energy_j
    assert b.energy_j == b.gpu_j == pytest.approx(3.0) and b.cpu_j == pytest.approx(1.5)
    assert meter.charged_j + meter.idle_j == pytest.approx(7.0)
    meter.stop()


def test_no_host_cpu_counter_beside_a_cpu_source_or_where_rapl_is_unreadable(tmp_path):
    rapl_zone(tmp_path, "intel-rapl:0", "package-0", 0)
    assert open_host_cpu_source(RaplSource(tmp_path), root=tmp_path) is None  # already the host's figure
    assert open_host_cpu_source(CpuTimeSource(pid=os.getpid()), root=tmp_path) is None
    gpu = NvmlSource(nvml=FakeNvml([FakeGpu()]))
    assert open_host_cpu_source(gpu, root=tmp_path / "absent") is None
    meter = Meter(gpu, period_s=1.0)
    meter.begin("r", 1)
    record = meter.record(meter.finish("r", prompt_tokens=1, completion_tokens=0), prompt_tokens=1, completion_tokens=0)
    assert record.gpu_j is not None and record.cpu_j is None


# -- CPU-time model ----------------------------------------------------------------------
def burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


# A process with no children of its own, which burns the CPU seconds it is sent and answers with
# its own CPU time. Not this test process: its tree holds the session's workers and engines,
# whose CPU time (an engine's loop) would count too.
BURNER = (
    "import sys, time\n"
    "for line in sys.stdin:\n"
    "    end = time.process_time() + float(line)\n"
    "    while time.process_time() < end: pass\n"
    "    print(time.process_time(), flush=True)\n"
)


def test_cpu_model_charges_the_process_cpu_seconds_times_watts_per_core():
    burner = subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def burn(seconds: float) -> float:
        burner.stdin.write(f"{seconds}\n")
        burner.stdin.flush()
        return float(burner.stdout.readline())

    try:
        source = CpuTimeSource(pid=burner.pid, watts_per_core=10.0, threads_per_core=1.0)
        assert source.method == "cpu-time-model" and source.measured is False and source.kind == "cpu"
        c0 = burn(0.0)
        e0 = source.read_energy_j()
        c1 = burn(0.6)
        e1 = source.read_energy_j()
        # /proc counts in clock ticks (10 ms): loose tolerance, but the scale must be right.
        assert e1 - e0 == pytest.approx((c1 - c0) * 10.0, rel=0.2, abs=0.5)
        time.sleep(0.3)  # idle: (almost) no CPU time, (almost) no energy
        assert source.read_energy_j() - e1 < 0.3 * 10.0
    finally:
        burner.stdin.close()
        burner.wait(timeout=10)


def test_cpu_model_counts_the_children_of_the_engine_process():
    source, own0 = CpuTimeSource(pid=os.getpid(), watts_per_core=10.0, threads_per_core=1.0), time.process_time()
    source.TREE_REFRESH_S = 0.0  # walk /proc at every read: this child is born after the first walk
    # A child that burns 0.6 s of CPU, then waits (alive) for its stdin to close.
    code = (
        "import sys, time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
        "print('done', flush=True)\nsys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "done"
        own_j = (time.process_time() - own0) * 10.0  # this process, while it waited
        assert source.read_energy_j() - own_j >= 0.5 * 10.0  # the child's 0.6 s, less tick rounding
    finally:
        child.stdin.close()
        child.wait(timeout=10)


def test_cpu_model_of_the_whole_machine_grows_with_busy_cores():
    source = CpuTimeSource(pid=None, watts_per_core=10.0, threads_per_core=1.0)
    c0 = time.process_time()
    burn_cpu(0.5)
    burned = time.process_time() - c0
    # Every busy core of the machine counts, this process's among them.
    assert source.read_energy_j() >= 0.7 * burned * 10.0


def test_cpu_model_default_constant_comes_from_the_meter_fixture():
    constants = yaml.safe_load((FIXTURES / "meter.yaml").read_text())
    expected = float(constants["cpu_watts_per_core"]["value"])
    source = CpuTimeSource(pid=os.getpid())
    assert source.watts_per_core == expected
    assert f"{expected:g} W per busy physical core" in source.devices[0]


# -- choosing a source -------------------------------------------------------------------------
def nvml_works_here() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


def rapl_works_here() -> bool:
    try:
        RaplSource()
        return True
    except MeterError:
        return False


no_gpu_no_rapl = pytest.mark.skipif(nvml_works_here() or rapl_works_here(), reason="this machine has NVML or RAPL")


@no_gpu_no_rapl
def test_auto_falls_back_to_the_cpu_model_without_nvml_and_rapl():
    source = open_power_source("auto", engine_pid=os.getpid())
    assert isinstance(source, CpuTimeSource)
    assert source.method == "cpu-time-model" and source.measured is False
    assert source._pid == os.getpid()
    assert isinstance(open_power_source("auto"), CpuTimeSource)  # attached engine: the whole machine
    assert isinstance(open_power_source("cpu"), CpuTimeSource)


@no_gpu_no_rapl
def test_an_explicit_nvml_or_rapl_meter_that_cannot_work_here_is_an_error():
    with pytest.raises(MeterError, match="NVML"):
        open_power_source("nvml")
    with pytest.raises(MeterError, match="RAPL"):
        open_power_source("rapl")


def test_auto_prefers_nvml_and_never_hides_a_mig_refusal(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu(energy_mj=0), FakeGpu(energy_mj=0)]))
    source = open_power_source("auto", gpus=[1])
    assert isinstance(source, NvmlSource) and len(source.devices) == 1
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([FakeGpu(mig=1)]))
    with pytest.raises(MeterError, match="MIG"):
        open_power_source("auto", engine_on_gpu=True, environ={})  # not a silent fall back to an estimate


def test_an_unknown_meter_is_an_error():
    with pytest.raises(MeterError, match="unknown meter 'gpu'"):
        open_power_source("gpu")


def test_meter_off_reads_nothing_and_records_no_figure():
    source = open_power_source("off")
    assert isinstance(source, NullSource)
    assert source.method == "off" and source.measured is False and source.read_energy_j() == 0.0
    meter = Meter(source)
    meter.start()
    assert meter._thread is None  # no sampler
    meter.begin("r", 10)
    meter.first_token("r")
    meter.add_tokens("r", 3)
    usage = meter.finish("r", prompt_tokens=10, completion_tokens=3)
    assert meter.active == 0 and meter.total_j == 0.0
    record = meter.record(usage, prompt_tokens=10, completion_tokens=3)
    assert record.method == "off" and record.measured is False
    assert record.energy_j is None and not record.has_figures and record.completion_tokens == 3
    meter.stop()


def test_cpu_model_follows_a_restarted_engine_without_going_back():
    source = CpuTimeSource(pid=os.getpid(), watts_per_core=10.0, threads_per_core=1.0)
    burn_cpu(0.2)
    before = source.read_energy_j()
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        source.follow(child.pid)  # the engine was started again: a new process to read
        assert source.read_energy_j() >= before  # what the old one used stays counted
    finally:
        child.stdin.close()
        child.wait(timeout=10)


# -- the CPU-time model with SMT: /proc counts logical CPUs, the constant is per physical core ----------
def cpuinfo(sockets: int, cores: int, threads: int, core_ids: bool = True) -> str:
    blocks, n = [], 0
    for _thread in range(threads):
        for socket in range(sockets):
            for core in range(cores):
                lines = [f"processor\t: {n}", "model name\t: Test CPU"]
                if core_ids:
                    lines += [f"physical id\t: {socket}", f"siblings\t: {cores * threads}", f"core id\t\t: {core}"]
                blocks.append("\n".join(lines))
                n += 1
    return "\n\n".join(blocks) + "\n\n"


def fake_proc(tmp_path: Path, info: str, busy_ticks: int = 0) -> Path:
    (tmp_path / "cpuinfo").write_text(info)
    set_busy(tmp_path, busy_ticks)
    return tmp_path


def set_busy(proc: Path, ticks: int) -> None:
    # user nice system idle iowait irq softirq steal: busy = everything but idle and iowait
    (proc / "stat").write_text(f"cpu  {ticks} 0 0 999999 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n")


@pytest.mark.parametrize(
    ("sockets", "cores", "threads", "expected"), [(1, 4, 2, 2.0), (2, 8, 2, 2.0), (1, 6, 1, 1.0), (2, 4, 1, 1.0)]
)
def test_threads_per_core_are_read_from_cpuinfo(tmp_path, sockets, cores, threads, expected):
    (tmp_path / "cpuinfo").write_text(cpuinfo(sockets, cores, threads))
    assert cpu_threads_per_core(tmp_path) == expected


def test_threads_per_core_unknown_without_core_ids_or_cpuinfo(tmp_path):
    assert cpu_threads_per_core(tmp_path) is None  # no cpuinfo
    (tmp_path / "cpuinfo").write_text(cpuinfo(1, 4, 1, core_ids=False))  # as on some ARM machines
    assert cpu_threads_per_core(tmp_path) is None


def test_cpu_model_charges_a_logical_cpu_second_half_a_core_with_two_threads_per_core(tmp_path):
    """Both threads of a core busy for 1 s: /proc counts 2 CPU seconds, the core drew one core's power."""
    ticks = os.sysconf("SC_CLK_TCK")
    proc = fake_proc(tmp_path, cpuinfo(1, 4, 2))
    source = CpuTimeSource(pid=None, watts_per_core=10.0, proc=proc)
    assert source.threads_per_core == 2.0 and source.watts_per_cpu == 5.0
    set_busy(proc, 2 * ticks)  # 2 logical CPU seconds
    assert source.read_energy_j() == pytest.approx(10.0)  # one core-second at 10 W, not 20 J
    assert "2 per physical core" in source.devices[0] and "5 W per busy logical CPU" in source.devices[0]


def test_cpu_model_without_smt_charges_a_cpu_second_the_whole_core(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    proc = fake_proc(tmp_path, cpuinfo(2, 4, 1))
    source = CpuTimeSource(pid=None, watts_per_core=10.0, proc=proc)
    set_busy(proc, 3 * ticks)
    assert source.read_energy_j() == pytest.approx(30.0)


def test_cpu_model_says_when_it_could_not_read_the_threads_per_core(tmp_path):
    proc = fake_proc(tmp_path, cpuinfo(1, 4, 1, core_ids=False))
    source = CpuTimeSource(pid=None, watts_per_core=10.0, proc=proc)
    assert source.threads_per_core == 1.0 and "threads per core unknown, taken as 1" in source.devices[0]


def test_cpu_model_of_the_whole_host_says_so_in_its_devices(tmp_path):
    """Attached to an engine (--upstream: no pid), every process's CPU time counts: the record says so."""
    whole = CpuTimeSource(pid=None, watts_per_core=10.0, proc=fake_proc(tmp_path, cpuinfo(1, 2, 1)))
    assert whole.whole_host and whole.devices[0].startswith("whole host")
    assert whole.method == "cpu-time-model" and whole.measured is False  # the method name others match on
    engine = CpuTimeSource(pid=os.getpid(), watts_per_core=10.0)
    assert not engine.whole_host and engine.devices[0].startswith("engine process tree")
    assert "whole host" not in engine.devices[0]
