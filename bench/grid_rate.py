"""Run by bench/run with the measured environment's Python: sweep rates over grids of inputs, as JSON.

  grid:   questions.sweep.blocks over models x 2 modes x 3 precisions x a seq_len x batch x lora_rank
          grid x every GPU (what `vramrules sweep --seq-len ... --batch ... --lora-rank ...` evaluates:
          the generated loop, each rule in the innermost loop whose axis it reads), rows per second;
  numpy:  the same sweep with the numpy backend (backends/vectorized), rows per second;
  options: the old way for comparison, one sweep.run call per (seq_len, batch) option set over GPUs;
  csv:    `vramrules sweep` end to end for the grid of one model (formatting included), rows per second.
Best pass of those within the seconds given."""
import json
import subprocess
import sys
import time

from vramrules import api
from vramrules.questions import sweep as S

MODES = ["inference", "train-lora"]
PRECISIONS = [None, "int4", "fp8"]
GRID = {"seq_len": [1000 * 2 ** i for i in range(8)], "batch": [2 ** i for i in range(7)], "lora_rank": [8, 16, 32, 64]}


def best_rate(one_pass, seconds):
    best, count = 0.0, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        count = one_pass()
        best = max(best, count / (time.perf_counter() - t))
    return best, count


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    cat = api.load_catalog()
    gpus = list(cat.kind("gpu"))
    models = list(cat.kind("model"))[:12]
    out = {}
    for backend in ("python", "numpy"):
        try:
            rate, n = best_rate(lambda b=backend: sum(len(x) for x in S.blocks(cat, models, MODES, PRECISIONS, gpus, axes=GRID, backend=b)), seconds)
        except ImportError:
            rate, n = 0.0, 0
        out[f"{backend}_rate"], out[f"{backend}_rows"] = rate, n

    def options_pass():
        n = 0
        for seq in GRID["seq_len"][:4]:
            for batch in GRID["batch"][:4]:
                n += sum(1 for _ in S.run(cat, models[:3], MODES, [None], gpus, options={"seq_len": seq, "batch": batch}))
        return n

    out["options_rate"], _ = best_rate(options_pass, seconds)
    cmd = [sys.executable, "-m", "vramrules.cli", "sweep", "--model", models[0], "--mode", "inference,serve", "--seq-len", "1k..128k*2",
           "--batch", "1..64*2", "--precision", "bf16,int4,fp8"]
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    rows = r.stdout.count("\n") - 1
    out["csv_rate"], out["csv_rows"] = rows / (time.perf_counter() - t), rows
    print(json.dumps(out))


if __name__ == "__main__":
    main()
