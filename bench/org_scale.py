#!/usr/bin/env python3
"""Organization scale (issues 13 and 21): what a run costs with a catalog of 10,000 and 50,000
models, and after editing one entry of it.

    bench/org_scale.py [--vramrules EXE] [--python EXE] [--runs N] [--sizes 1000,10000,50000]

The overlays are the built-in models renamed (org-<id>-<n>), written as an organization would
keep them: one models.yaml in block style. Prints one JSON document (bench/run puts its figures
into results.json and the README): each target with its measured figure, and the growth
exponent k of time ~ N^k between the sizes."""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def overlay(n: int, folder: Path, python: str) -> None:
    """n renamed copies of the installed package's models, one block-style models.yaml."""
    code = r"""
import sys, yaml
from pathlib import Path
from vramrules.reading.datadir import builtin_data_dir
n, out = int(sys.argv[1]), Path(sys.argv[2])
models = yaml.safe_load((Path(builtin_data_dir()) / "models.yaml").read_text(encoding="utf-8"))["models"]
ids = list(models)
lines = ["models:"]
for i in range(n):
    src = ids[i % len(ids)]
    e = dict(models[src]); e.pop("hub", None); e["name"] = f"{e.get('name', src)} (org copy {i})"
    lines += ["  " + l for l in yaml.safe_dump({f"org-{src}-{i}": e}, sort_keys=False, width=10**6).splitlines()]
(out / "models.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
"""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-c", code, str(n), str(folder)], check=True, env=BASE_ENV)


def run(cmd, env) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env={**BASE_ENV, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.decode()[-600:]}")
    return took


def edit(folder: Path, i: int) -> None:
    """Change one entry's name (a different text, the same meaning)."""
    p = folder / "models.yaml"
    text = p.read_text(encoding="utf-8")
    marker = "(org copy 7)"
    at = text.index(marker)
    end = text.index("\n", at)
    p.write_text(text[:at] + f"{marker} edit {i}" + text[end:], encoding="utf-8")


def first_id(folder: Path) -> str:
    with open(folder / "models.yaml", encoding="utf-8") as f:
        f.readline()
        return f.readline().strip().rstrip(":")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vramrules", default=shutil.which("vramrules") or "vramrules")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1000,10000,50000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    vr = args.vramrules
    work = Path(tempfile.mkdtemp(prefix="vramrules-org-"))
    out: dict = {"sizes": sizes, "results": []}
    try:
        cache = work / "cache"
        env = {"VRAMRULES_CACHE_DIR": str(cache)}
        mission = [vr, "eval", "--model", "llama3-70b", "--mode", "train-lora"]
        run(mission, env)
        time.sleep(2.5)  # the stat memo settles
        per_size: dict = {}
        for n in sizes:
            folder = work / f"org{n}"
            overlay(n, folder, args.python)
            model = first_id(folder)
            target = [vr, "eval", "--model", model, "--data", str(folder)]
            first = run(target, env)                                    # from nothing: every entry parsed once
            after_edit, validate_after = [], []
            for i in range(args.runs):
                edit(folder, 2 * i)
                after_edit.append(run(target, env))
                edit(folder, 2 * i + 1)
                validate_after.append(run([vr, "validate", "--data", str(folder)], env))
            time.sleep(2.5)
            run(mission + ["--data", str(folder)], env)
            pairs = []
            for _ in range(max(args.runs, 9)):
                a = run(mission, env)
                b = run(mission + ["--data", str(folder)], env)
                pairs.append(b / a)
            # the pull-request gate: diff between the overlay and a copy with one entry edited, over
            # the default matrix (every model x mode on the reference GPUs)
            proposed = work / f"org{n}-proposed"
            proposed.mkdir()
            shutil.copy(folder / "models.yaml", proposed / "models.yaml")
            diffs = []
            for i in range(args.runs):
                edit(proposed, 100 + i)
                diffs.append(run([vr, "diff", str(folder), str(proposed), "--format", "json"], env))
            mib = (folder / "models.yaml").stat().st_size / 2**20
            per_size[n] = {"file_mib": round(mib, 1), "first_build_s": round(first, 2),
                           "eval_after_one_edit_s": round(statistics.median(after_edit), 3),
                           "validate_after_one_edit_s": round(statistics.median(validate_after), 3),
                           "warm_eval_ratio_to_builtin": round(statistics.median(pairs), 3),
                           "diff_after_one_edit_s": round(statistics.median(diffs), 3)}
            print(f"{n:>6} models ({mib:.1f} MiB): first build {first:.1f} s; after one edit: eval {per_size[n]['eval_after_one_edit_s']:.2f} s, "
                  f"validate {per_size[n]['validate_after_one_edit_s']:.2f} s, diff {per_size[n]['diff_after_one_edit_s']:.2f} s; warm eval {per_size[n]['warm_eval_ratio_to_builtin']:.2f}x the built-in's",
                  file=sys.stderr, flush=True)
        out["per_size"] = per_size
        lo, hi = min(sizes), max(sizes)
        for key in ("first_build_s", "eval_after_one_edit_s", "validate_after_one_edit_s", "diff_after_one_edit_s"):
            a, b = per_size[lo][key], per_size[hi][key]
            out.setdefault("growth_exponent", {})[key] = round(math.log(b / a) / math.log(hi / lo), 2) if a > 0 and b > 0 else None
        big = per_size.get(10000) or per_size[hi]
        out["results"] = [
            {"target": "eval after editing one entry of a 10,000-model overlay", "measured": f"{big['eval_after_one_edit_s'] * 1000:.0f} ms",
             "goal": "<= 1 s", "met": big["eval_after_one_edit_s"] <= 1.0},
            {"target": "validate after editing one entry of a 10,000-model overlay", "measured": f"{big['validate_after_one_edit_s'] * 1000:.0f} ms",
             "goal": "<= 1 s", "met": big["validate_after_one_edit_s"] <= 1.0},
            {"target": "diff over a 10,000-model overlay's default matrix after editing one entry", "measured": f"{big['diff_after_one_edit_s'] * 1000:.0f} ms",
             "goal": "<= 10 s", "met": big["diff_after_one_edit_s"] <= 10.0},
            {"target": f"warm eval with a {hi:,}-model overlay, against the built-in catalog's", "measured": f"{per_size[hi]['warm_eval_ratio_to_builtin']:.2f}x",
             "goal": "<= 1.10x", "met": per_size[hi]["warm_eval_ratio_to_builtin"] <= 1.10},
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
