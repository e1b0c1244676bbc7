"""`--gpu auto` through NVML (nvidia-ml-py's pynvml, the optional extra vramrules[nvml]), with a
fake pynvml module: no GPU and no driver here. Each detected GPU is matched to the catalog's by
name and reported memory (data/gpus.yaml), or made an entry of its own with the detected
capacity; the memory already in use is the default --reserve, subtracted from every GPU."""
from __future__ import annotations

import sys
import types

import pytest
from click.testing import CliRunner

import vramrules
from vramrules.api import load_catalog
from vramrules.cli import main
from vramrules.errors import UsageError

CAT = load_catalog()
MIB, GIB = 1 << 20, 1 << 30


class NVMLError(Exception):
    pass


def fake_nvml(devices, init_error: str | None = None):
    """A pynvml with the calls importers/local_gpu.py makes: devices are (name, total B, used B);
    a name may come as bytes, as older nvidia-ml-py releases return it."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError
    calls: list = []

    def init():
        calls.append("init")
        if init_error:
            raise NVMLError(init_error)

    m.nvmlInit = init
    m.nvmlShutdown = lambda: calls.append("shutdown")
    m.nvmlDeviceGetCount = lambda: len(devices)
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetName = lambda h: devices[h][0]
    m.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=devices[h][1], used=devices[h][2], free=devices[h][1] - devices[h][2])
    m.calls = calls
    return m


@pytest.fixture
def nvml(monkeypatch, tmp_path):
    """Install a fake pynvml and hide the tools on PATH (an empty folder)."""
    monkeypatch.setenv("PATH", str(tmp_path))

    def install(devices, init_error=None):
        mod = fake_nvml(devices, init_error)
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        return mod
    return install


def reported(gpu: str) -> float:
    return CAT.kind("gpu")[gpu].facts["memory_reported"]


def test_known_gpus_are_the_catalogs_and_unknown_ones_their_own(nvml):
    """An RTX 4090 (24564 MiB, as data/gpus.yaml's rtx-4090 reports), an RTX 3090 (24576 MiB) and a
    GPU the catalog lacks: the first two are the catalog's entries, the third an entry of its own
    with the detected 48,000 MiB; 1,200 MiB in use on the 4090 is the default reserve of each."""
    mod = nvml([(b"NVIDIA GeForce RTX 4090", 24564 * MIB, 1200 * MIB), ("NVIDIA GeForce RTX 3090", 24576 * MIB, 300 * MIB),
                ("NVIDIA Mystery 48GB", 48000 * MIB, 0)])
    r = vramrules.evaluate(model="llama3.1-70b", rules="llamacpp", gpu="auto", precision="Q4_K_M", seq_len=32768)
    assert [g.id for g, _c in r.scenario.devices] == ["rtx-4090", "rtx-3090", "local-gpu"]
    assert r.scenario.inputs["reserve"] == (1200 * MIB,)  # one size, every GPU's (vocabulary one_for_all)
    assert r.values["usable_per_device"] == [reported("rtx-4090") - 1200 * MIB, reported("rtx-3090") - 1200 * MIB, 48000 * MIB - 1200 * MIB]
    assert mod.calls == ["init", "shutdown"]
    # --reserve given: it replaces the detected use
    r = vramrules.evaluate(model="llama3.1-70b", rules="llamacpp", gpu="auto", precision="Q4_K_M", reserve="2 GiB")
    assert r.values["usable_per_device"][0] == reported("rtx-4090") - 2 * GIB


def test_one_kind_is_n_of_that_gpu(nvml):
    nvml([("NVIDIA GeForce RTX 4090", 24564 * MIB, 0)] * 2)
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "auto"])
    assert r.exit_code == 0, r.output
    assert "GPU: 2 x rtx-4090 (NVIDIA GeForce RTX 4090 24GB, 24 GiB)" in r.output
    assert "usable per GPU   23.99 GiB" in r.output  # 24564 MiB, nothing in use


def test_a_name_the_catalog_has_with_other_memory_is_not_that_gpu(nvml):
    """A 'RTX 4090' reporting 48 GiB (a modified card) is not the catalog's 24 GiB one: its own entry."""
    nvml([("NVIDIA GeForce RTX 4090", 49140 * MIB, 0)])
    r = vramrules.evaluate(model="llama3.1-8b", gpu="auto")
    assert r.scenario.gpu.id == "local-gpu" and r.fit.capacity_per_gpu.bytes == 49140 * MIB


def test_without_nvml_or_a_driver_the_message_says_which(nvml, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(UsageError, match=r"NVML is not installed \(pip install 'vramrules\[nvml\]'"):
        vramrules.evaluate(model="llama3.1-8b", gpu="auto")
    nvml([], init_error="Driver Not Loaded")
    with pytest.raises(UsageError, match=r"NVML could not start \(Driver Not Loaded: no NVIDIA driver\?\), and neither nvidia-smi"):
        vramrules.evaluate(model="llama3.1-8b", gpu="auto")
    nvml([("NVIDIA GB10", 0, 0)])  # a unified-memory device whose framebuffer NVML does not size
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "auto"])
    assert r.exit_code == 2 and "no positive total memory" in r.output and "Traceback" not in r.output


def test_nvidia_smi_na_fields(monkeypatch, tmp_path):
    """nvidia-smi prints [N/A] for what a device does not report: memory.used counts as none in
    use; no memory.total is a clear usage error."""
    from test_importers import _fake_tool

    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    _fake_tool(tmp_path, "nvidia-smi", "NVIDIA GeForce RTX 4090, 24564, [N/A]\n")
    r = vramrules.evaluate(model="llama3.1-8b", gpu="auto")
    assert r.scenario.gpu.id == "rtx-4090" and r.scenario.inputs["reserve"] == (0,)
    _fake_tool(tmp_path, "nvidia-smi", "NVIDIA GB10, [N/A], [N/A]\n")
    with pytest.raises(UsageError, match=r"reports no memory.total for 'NVIDIA GB10' \(\[N/A\]"):
        vramrules.evaluate(model="llama3.1-8b", gpu="auto")


def test_reserve_comes_off_every_gpu():
    """--reserve 1.5GiB: each GPU's usable memory less it, in every rule set (data/rules/fit.yaml)."""
    a = vramrules.evaluate(model="llama3.1-8b", gpu="rtx-4090+rtx-3090")
    b = vramrules.evaluate(model="llama3.1-8b", gpu="rtx-4090+rtx-3090", reserve="1.5 GiB")
    assert b.values["usable_per_device"] == [u - 1.5 * GIB for u in a.values["usable_per_device"]]
    c = vramrules.evaluate(model="llama3.1-8b", rules="llamacpp", gpu="rtx-3060-12gb", seq_len=32768, reserve="2 GiB")
    assert c.values["gpu_layer_slots"] < 18  # the example keeps 18 slots with nothing reserved
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--reserve", "2GB"])
    assert r.exit_code == 0 and "usable per GPU   22.13 GiB" in r.output, r.output
    r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--gpu", "rtx-4090", "--reserve", "2"])
    assert r.exit_code == 2 and "--reserve" in r.output


def test_reserve_per_gpu_comes_off_each_gpu_in_the_order_of_gpu():
    """--reserve 1.5GiB,0 on rtx-4090,rtx-3090: the desktop's 1.5 GiB off the first GPU only (GPUs past the
    list reserve 0); llama.cpp then splits the layers by the free memory that leaves (src/llama-model.cpp:1556-1574),
    so the first GPU takes fewer. A list longer than the placement, or a size without a unit, is a usage error
    (exit 2) that says so."""
    a = vramrules.evaluate(model="llama3.1-8b", rules="llamacpp", gpu="rtx-4090,rtx-3090", seq_len=32768)
    b = vramrules.evaluate(model="llama3.1-8b", rules="llamacpp", gpu="rtx-4090,rtx-3090", seq_len=32768, reserve="1.5GiB,0")
    assert b.values["usable_per_device"] == [a.values["usable_per_device"][0] - 1.5 * GIB, a.values["usable_per_device"][1]]
    assert b.values["device_layers"][0] < a.values["device_layers"][0]
    same = vramrules.evaluate(model="llama3.1-8b", rules="llamacpp", gpu="rtx-4090,rtx-3090", seq_len=32768, reserve="1.5GiB")
    assert same.values["usable_per_device"] == [u - 1.5 * GIB for u in a.values["usable_per_device"]]  # one size: every GPU's
    plain = vramrules.evaluate(model="llama3.1-8b", gpu="rtx-4090+rtx-3090").values["usable_per_device"]
    d = vramrules.evaluate(model="llama3.1-8b", gpu="rtx-4090+rtx-3090", reserve="0,2GiB")  # the default rule set: one per GPU type
    assert d.values["usable_per_device"] == [plain[0], plain[1] - 2 * GIB]
    for bad, says in (("1GiB,1GiB,1GiB", "gives 3 values for the 2 GPUs"), ("1GiB,2", "one quantity of dimension [information] per GPU")):
        r = CliRunner().invoke(main, ["eval", "--model", "llama3.1-8b", "--rules", "llamacpp", "--gpu", "rtx-4090,rtx-3090", "--reserve", bad])
        assert r.exit_code == 2 and says in r.output, (bad, r.output)
