"""`--gpu auto`: the GPUs of this machine - from NVML (the nvidia-ml-py package, the optional
extra `vramrules[nvml]`, imported only here), else nvidia-smi, else rocm-smi - each with its name,
total and used memory, matched to the catalog GPU of that name and memory, or made an entry of its
own whose memory is what the driver reports. No GPU found is a clear message, not a guess."""
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
NA = ("[N/A]", "N/A", "[Not Supported]")  # what nvidia-smi prints for a field the device does not report


MATCH_TOLERANCE = 0.02  # a detected total within 2% of a catalog GPU's memory_reported is that GPU (ECC, driver reserves)


def detect() -> list[dict]:
    """[{name, total_mib, used_mib, vendor, tool}] for each local GPU, in the driver's order."""
    found, why = _nvml()
    if found:
        return found
    smi = shutil.which("nvidia-smi")
    if smi:
        return _nvidia(smi)
    rocm = shutil.which("rocm-smi")
    if rocm:
        return _rocm(rocm)
    raise UsageError(f"--gpu auto: {why}, and neither nvidia-smi nor rocm-smi is on PATH, so this machine's GPUs are unknown; "
                     "name one with --gpu (vramrules list gpus)")


def _nvml() -> tuple[list, str]:
    """The GPUs NVML lists (nvmlDeviceGetName, nvmlDeviceGetMemoryInfo: total and used bytes), or
    ([], why not): the package is not installed, or NVML cannot start (no NVIDIA driver)."""
    try:
        import pynvml  # type: ignore[import-untyped,import-not-found,unused-ignore]  # nvidia-ml-py
    except ImportError:
        return [], "NVML is not installed (pip install 'vramrules[nvml]': the nvidia-ml-py package)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001  (pynvml.NVMLError and its per-code subclasses: no driver, no library)
        return [], f"NVML could not start ({str(exc)[:120] or type(exc).__name__}: no NVIDIA driver?)"
    out = []
    try:
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            total, used = float(mem.total) / 2**20, float(mem.used) / 2**20
            if not (math.isfinite(total) and total > 0):
                raise UsageError(f"--gpu auto: NVML gives device {i} ({name!r}) no positive total memory "
                                 "(a unified-memory device such as DGX Spark or Jetson?); name it with --gpu")
            out.append({"name": name, "total_mib": total, "used_mib": used if math.isfinite(used) and used >= 0 else 0.0,
                        "vendor": "nvidia", "tool": "NVML"})
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001  (an NVMLError while reading a device)
        raise UsageError(f"--gpu auto: NVML failed reading the GPUs: {str(exc)[:120] or type(exc).__name__}") from None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001, S110  (nothing to undo)
            pass
    return out, "NVML lists no GPUs"


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
        if len(parts) >= 3 and parts[-1] in NA:  # memory.used [N/A]: counted as none in use
            parts[-1] = "0"
        if len(parts) >= 3 and parts[-2] in NA:
            raise UsageError(f"--gpu auto: nvidia-smi reports no memory.total for {','.join(parts[:-2])!r} ([N/A]: a unified-memory "
                             "device such as DGX Spark or Jetson?); name it with --gpu")
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


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def match(found: dict, gpus) -> str | None:
    """The catalog GPU a detected one is: its name begins with the detected name (the catalog
    adds the memory: 'NVIDIA GeForce RTX 4090 24GB') and its memory_reported is within
    MATCH_TOLERANCE of the detected total; of several, the closest in memory. None: unknown."""
    if "\ufffd" in found["name"]:  # bytes the tool printed that are not UTF-8: shown as read, matched to nothing
        return None
    want, total = _norm(found["name"]), found["total_mib"] * 2**20
    best = None
    for gid, e in gpus.items():
        have = _norm(str(e.raw.get("name", "")))
        reported = e.facts.get("memory_reported") or 0.0
        if not want or not have.startswith(want) or not reported:
            continue
        off = abs(reported - total) / total
        if off <= MATCH_TOLERANCE and (best is None or off < best[0]):
            best = (off, gid)
    return best[1] if best else None


def placement(found: list[dict], gpus) -> tuple[str, list, float]:
    """(the placement of the detected GPUs in the driver's order, joined by '+': catalog ids where
    they match, LOCAL_ID or LOCAL_ID-N for the others; the unknown ones' [(id, detected)]; the
    most memory in use on any of them, in MiB: the default --reserve)."""
    ids: list = []
    own: list = []
    kinds: dict = {}
    for g in found:
        gid = match(g, gpus)
        if gid is None:
            key = (g["name"], g["total_mib"])
            if key not in kinds:
                kinds[key] = LOCAL_ID if not kinds else f"{LOCAL_ID}-{len(kinds) + 1}"
                own.append((kinds[key], [x for x in found if (x["name"], x["total_mib"]) == key]))
            gid = kinds[key]
        ids.append(gid)
    return "+".join(ids), own, max(g["used_mib"] for g in found)


def documents(own: list) -> Document:
    """The entries of the GPUs the catalog does not know, one per kind: [(id, detected)]."""
    data = {ident: document(found, ident).data["gpus"][ident] for ident, found in own}
    return Document(path=f"--gpu auto ({own[0][1][0]['tool']})", data={"gpus": data}, layer="--gpu auto")


def document(gpus: list[dict], ident: str = LOCAL_ID) -> Document:
    smallest = min(gpus, key=lambda g: g["total_mib"])
    names = sorted({g["name"] for g in gpus})
    entry = {"name": " + ".join(names), "vendor": smallest["vendor"], "class": "accelerator",
             "memory": f"{_mib(smallest['total_mib'])} MiB", "memory_reported": f"{_mib(smallest['total_mib'])} MiB",
             "source": f"{smallest['tool']} on this machine ({len(gpus)} GPU(s))",
             "reported_source": f"{smallest['tool']} memory.total of the smallest local GPU",
             "note": "; ".join(f"{g['name']}: {g['used_mib']:g} of {g['total_mib']:g} MiB in use" for g in gpus)}
    return Document(path=f"--gpu auto ({smallest['tool']})", data={"gpus": {ident: entry}}, layer="--gpu auto")
