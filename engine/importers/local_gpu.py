"""`--gpu auto`: the GPUs of this machine, from nvidia-smi (or rocm-smi), as a GPU entry whose
memory is what the driver reports. No tool on PATH is a clear message, not a guess."""
from __future__ import annotations

import json
import math
import shutil
import subprocess

from ..errors import UsageError
from ..reading.loader import Document

AUTO = "auto"
LOCAL_ID = "local-gpu"
QUERY = ["--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"]


def detect() -> list[dict]:
    """[{name, total_mib, used_mib, vendor}] for each local GPU."""
    smi = shutil.which("nvidia-smi")
    if smi:
        return _nvidia(smi)
    rocm = shutil.which("rocm-smi")
    if rocm:
        return _rocm(rocm)
    raise UsageError("--gpu auto: neither nvidia-smi nor rocm-smi is on PATH, so this machine's GPUs are unknown; "
                     "name one with --gpu (vramrules list gpus)")


def _run(cmd):
    """The tool's stdout as text. Bytes that are not UTF-8 (a driver in another locale, a broken
    tool) become U+FFFD rather than an exception: GPU names are shown, never interpreted."""
    try:
        r = subprocess.run(cmd, check=False, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--gpu auto: {cmd[0]} failed: {exc}") from None
    out, err = (b.decode("utf-8", errors="replace") for b in (r.stdout, r.stderr))
    if r.returncode:
        said = (err or out).strip()[:200]
        raise UsageError(f"--gpu auto: {' '.join(cmd)} exited {r.returncode}: {said if said.isprintable() else repr(said)[1:-1]}")
    return out


def _nvidia(smi) -> list[dict]:
    out = []
    for line in _run([smi, *QUERY]).splitlines():
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            name, total, used = ",".join(parts[:-2]), float(parts[-2]), float(parts[-1])
        except (ValueError, IndexError):
            raise UsageError(f"--gpu auto: cannot read nvidia-smi line {line!r}") from None
        if not (math.isfinite(total) and total > 0):  # a NaN would hide behind another GPU's total in min()
            raise UsageError(f"--gpu auto: nvidia-smi line {line!r} gives no positive memory.total")
        out.append({"name": name, "total_mib": total, "used_mib": used, "vendor": "nvidia", "tool": "nvidia-smi"})
    if not out:
        raise UsageError("--gpu auto: nvidia-smi lists no GPUs")
    return out


def _rocm(rocm) -> list[dict]:
    try:
        doc = json.loads(_run([rocm, "--showproductname", "--showmeminfo", "vram", "--json"]))
    except json.JSONDecodeError:
        raise UsageError("--gpu auto: cannot read rocm-smi's JSON") from None
    if not isinstance(doc, dict):
        raise UsageError("--gpu auto: rocm-smi's JSON is not an object of cards")
    out = []
    for card, info in sorted(doc.items()):
        if not card.startswith("card") or not isinstance(info, dict):
            continue
        try:
            total = float(info["VRAM Total Memory (B)"]) / 2**20
            used = float(info.get("VRAM Total Used Memory (B)", 0)) / 2**20
        except (KeyError, ValueError, TypeError):  # TypeError: null, a list or an object where a number belongs
            raise UsageError(f"--gpu auto: rocm-smi gives no VRAM total for {card}") from None
        if not (math.isfinite(total) and total > 0):
            raise UsageError(f"--gpu auto: rocm-smi gives no positive VRAM total for {card}")
        name = next((v for v in (info.get("Card series"), info.get("Card SKU")) if isinstance(v, str) and v.strip()), card)
        out.append({"name": name, "total_mib": total, "used_mib": used,
                    "vendor": "amd", "tool": "rocm-smi"})
    if not out:
        raise UsageError("--gpu auto: rocm-smi lists no GPUs")
    return out


def _mib(x: float) -> str:
    """The shortest text that reads back as exactly this float: `:g` keeps 6 digits, so 1,048,576
    MiB became 1.04858e+06 and rocm-smi's byte totals lost bytes."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def document(gpus: list[dict]) -> Document:
    smallest = min(gpus, key=lambda g: g["total_mib"])
    names = sorted({g["name"] for g in gpus})
    entry = {"name": " + ".join(names), "vendor": smallest["vendor"], "class": "accelerator",
             "memory": f"{_mib(smallest['total_mib'])} MiB", "memory_reported": f"{_mib(smallest['total_mib'])} MiB",
             "source": f"{smallest['tool']} on this machine ({len(gpus)} GPU(s))",
             "reported_source": f"{smallest['tool']} memory.total of the smallest local GPU",
             "note": "; ".join(f"{g['name']}: {g['used_mib']:g} of {g['total_mib']:g} MiB in use" for g in gpus)}
    return Document(path=f"--gpu auto ({smallest['tool']})", data={"gpus": {LOCAL_ID: entry}}, layer="--gpu auto")
