"""What an evaluation answers: the memory of each component, the total and the fit verdict,
with every rule's value and the way back to the facts (`derivation`, `to_json`)."""
from __future__ import annotations

from typing import Any


# Plain classes, not dataclasses: a warm `eval` imports this module, and dataclass decoration
# cost more than evaluating the rules (issue 7).
class Memory:
    """A memory quantity; `bytes` is exact, the rest are views."""

    __slots__ = ("bytes",)
    bytes: float

    def __init__(self, bytes: float):
        _set_bytes(self, bytes)  # the slot's own setter: __setattr__ refuses every write

    def __setattr__(self, name, value):
        raise AttributeError("Memory is immutable")

    def __eq__(self, other):
        return self.bytes == other.bytes if isinstance(other, Memory) else NotImplemented

    def __hash__(self):
        return hash(self.bytes)

    def __repr__(self):
        return f"Memory(bytes={self.bytes!r})"

    @property
    def gib(self) -> float:
        return self.bytes / 2**30

    @property
    def gb(self) -> float:
        return self.bytes / 1e9

    def to(self, unit: str) -> float:
        from ..reading.units import DISPLAY_UNITS

        return self.bytes / DISPLAY_UNITS[unit]


_set_bytes = Memory.__dict__["bytes"].__set__  # the slot descriptor


class Component:
    def __init__(self, name: str, label: str, memory: Memory, share: float, role: str = ""):
        self.name, self.label, self.memory, self.share = name, label, memory, share
        self.role = role  # what it belongs to (the mode's roles:): policy, reference, rollout engine, ...; "" when none

    def __repr__(self):
        return f"Component({self.name!r}, {self.memory.gib:.3f} GiB, share={self.share:.3f})"


class DeviceGroup:
    """GPUs besides the layout's (a rollout engine on GPUs of its own, the mode's device_groups):
    how many, what each of them holds, and whether it fits there."""

    def __init__(self, name: str, label: str, gpus: int, components: list, needed_per_gpu: Memory, fits: bool):
        self.name, self.label, self.gpus, self.components = name, label, gpus, components
        self.needed_per_gpu, self.fits = needed_per_gpu, fits

    def __repr__(self):
        return f"DeviceGroup({self.name}: {self.gpus} GPUs, needed/GPU={self.needed_per_gpu.gib:.3f} GiB, fits={self.fits})"


class Fit:
    def __init__(self, gpu: str, gpu_name: str, gpus: int, capacity_per_gpu: Memory, capacity_marketed: Memory,
                 needed_per_gpu: Memory, headroom_per_gpu: Memory, fits: bool, gpus_needed: int):
        self.gpu, self.gpu_name, self.gpus = gpu, gpu_name, gpus
        self.capacity_per_gpu = capacity_per_gpu      # usable memory of one GPU
        self.capacity_marketed = capacity_marketed
        self.needed_per_gpu, self.headroom_per_gpu = needed_per_gpu, headroom_per_gpu
        self.fits, self.gpus_needed = fits, gpus_needed
        self.groups: list = []  # DeviceGroup: GPUs of their own besides these `gpus` (gpus_needed counts them too)

    @property
    def gpus_total(self) -> int:
        """The layout's GPUs and every device group's."""
        return self.gpus + sum(g.gpus for g in self.groups)

    def __repr__(self):
        return f"Fit({self.gpus}x {self.gpu}: fits={self.fits}, needed/GPU={self.needed_per_gpu.gib:.3f} GiB, gpus_needed={self.gpus_needed})"


class _Part:
    """A Result attribute made together with the others the first time one is read (Result._made)."""

    def __set_name__(self, owner, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj, owner=None) -> Any:
        return self if obj is None else getattr(obj._made(), self.slot)

    def __set__(self, obj, value) -> None:
        setattr(obj._made(), self.slot, value)


class Result:
    """`components`, `warnings` and `host` may be given as `parts`, a function that makes the
    three when one of them is first read: a caller per keystroke that reads the total and the
    verdict does not pay for the breakdown and the warnings' messages."""

    def __init__(self, scenario, components: list | None, total: Memory, values: dict, fit: Fit | None,
                 warnings: list | None = None, host: list | None = None, compiled=None, catalog=None, parts=None):
        self.scenario, self.total, self.fit = scenario, total, fit
        self._components = [] if components is None else components
        self.values = values                                # every rule's value, by name (bytes for memory)
        self._warnings = [] if warnings is None else warnings  # messages of the rule set's warnings that hold
        self._host = [] if host is None else host            # Components in host (CPU) memory per GPU rank
        self.compiled, self.catalog = compiled, catalog
        self._parts = parts

    def _made(self):
        if self._parts is not None:
            comps, warnings, host = self._parts()
            self._parts = None
            self._components, self._warnings, self._host = comps, warnings + self._warnings, host
        return self

    components = _Part()  # Component list, in the mode's order
    warnings = _Part()    # messages of the rule set's warnings that hold
    host = _Part()        # Components in host (CPU) memory per GPU rank

    def __repr__(self):
        return f"Result({self.scenario!r}, total={self.total.gib:.3f} GiB, fit={self.fit!r})"

    def derivation(self):
        """Every rule's step: formula, values substituted, and each fact's file:line and source
        (what `--explain` prints). A list of explain.Step."""
        from .explain import derivation

        return derivation(self)

    def to_json(self, unit: str = "GiB", explain: bool = False) -> dict:
        """The `--format json` document."""
        from .document import document

        return document(self, unit, explain)

    def host_verdict(self) -> dict | None:
        """The host as a device of the plan, when the rule set gives its verdict
        (contract.HOST_VERDICT) and --host-ram was given: {"ram", "needed", "usable", "headroom",
        "fits"} in bytes and a bool; else None."""
        from ..contract import HOST_RAM, HOST_VERDICT

        v = self.values
        ram = v.get("host_ram_total", self.scenario.inputs.get(HOST_RAM, 0.0))  # on unified memory the machine's, --host-ram or not
        if not ram or any(name not in v for name in HOST_VERDICT):
            return None
        return {"ram": ram, "needed": v["host_needed"], "usable": v["host_usable"], "headroom": v["host_headroom"],
                "fits": bool(v["host_fits"])}

    def device_plan(self) -> list | None:
        """Each GPU of the placement as its own device, when the rule set gives a per-device plan
        (contract.DEVICE_PLAN: llama.cpp's uneven split) and the placement has several: [{"gpu"
        (entry), "components": [(name, label, bytes)], "needed", "usable", "headroom", "fits",
        "figures": [(name, label, value)]}]; else None."""
        from ..contract import DEVICE_PLAN, DEVICE_PREFIX

        v, comp, sc = self.values, self.compiled, self.scenario
        if len(sc.devices) < 2 or any(not isinstance(v.get(n), list) for n in DEVICE_PLAN):
            return None
        rs = self.catalog.rulesets[comp.ruleset]
        figures = [n for n in list(dict.fromkeys(rs.report + rs.modes[comp.mode].report)) if isinstance(v.get(n), list)]
        out = []
        for k, (g, _c) in enumerate(sc.devices):
            parts = [(c, comp.rules[DEVICE_PREFIX + c].label, v[DEVICE_PREFIX + c][k]) for c in comp.components
                     if isinstance(v.get(DEVICE_PREFIX + c), list)]
            out.append({"gpu": g, "components": parts, "needed": v["device_total"][k], "usable": v["device_usable"][k],
                        "headroom": v["device_headroom"][k], "fits": v["device_headroom"][k] >= 0,
                        "figures": [(n, comp.rules[n].label, v[n][k]) for n in figures]})
        return out

    def roles(self) -> list:
        """[(role, bytes, [component names])] in the order the components come: the per-GPU
        breakdown by role (empty when the mode declares no roles)."""
        out: dict = {}
        for c in self.components:
            if c.role:
                entry = out.setdefault(c.role, [0.0, []])
                entry[0] += c.memory.bytes
                entry[1].append(c.name)
        return [(r, b, names) for r, (b, names) in out.items()]

    def component(self, name: str) -> Component:
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)
