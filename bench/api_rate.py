"""Run by bench/run with the measured environment's Python: the in-process API's cost per estimate, as JSON.

  prepared: vramrules.evaluate(..., catalog=cat) asked again with another seq_len and batch (a page
            or a service, per keystroke), reading the total and the verdict: the scenario resolved
            once, only the rules the numbers reach evaluated again (api._fast); needed=False (a
            scenario that does not fit would also search the GPUs it needs). Median of the passes,
            microseconds per call.
  full:     the same calls through the full path (evaluation.evaluate.evaluate_in: resolve, every
            rule, the located checks), for comparison.
  memory:   bytes tracemalloc sees held after 10,000 such calls over 80 models beyond the warm-up."""
import json
import statistics
import sys
import time
import tracemalloc

import vramrules
from vramrules import api

CASES = [("llama3.1-8b", "inference", "rtx-4090"), ("llama3-70b", "train-lora", "h100-sxm-80gb"), ("mixtral-8x7b", "serve", "h100-sxm-80gb")]


def per_call(fn, n):
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t) / n * 1e6


def main():
    passes = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    cat = api.load_catalog()
    out: dict = {"cases": []}
    for model, mode, gpu in CASES:
        def prepared(i, model=model, mode=mode, gpu=gpu):
            r = vramrules.evaluate(model, mode, gpu=gpu, catalog=cat, needed=False, seq_len=1000 + 37 * i, batch=1 + i % 8)
            return r.total.bytes, r.fit.fits  # what a page shows per keystroke: the total and the verdict

        def full(i, model=model, mode=mode, gpu=gpu):
            return api.evaluate_in(cat, model, mode, gpu=gpu, seq_len=1000 + 37 * i, batch=1 + i % 8)

        prepared(0)
        fast = statistics.median(per_call(prepared, 5000) for _ in range(passes))
        slow = statistics.median(per_call(full, 500) for _ in range(max(1, passes // 2)))
        out["cases"].append({"model": model, "mode": mode, "gpu": gpu, "prepared_us": fast, "full_us": slow})
    out["prepared_us"] = max(c["prepared_us"] for c in out["cases"])
    models = list(cat.kind("model"))[:80]

    def churn(i):
        vramrules.evaluate(models[i % 80], "inference" if i % 2 else "train-lora", gpu="h100-sxm-80gb", catalog=cat, needed=False,
                           seq_len=1 + (i * 7919) % 200_000, batch=1 + i % 64)

    per_call(churn, 2000)
    tracemalloc.start()
    per_call(churn, 10_000)
    out["memory_after_10000_calls"] = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # the machine's pace: a bare Python loop, so a figure from a slower or busier machine can be read
    out["python_loop_ns"] = per_call(lambda i: None, 1_000_000) * 1000
    print(json.dumps(out))


if __name__ == "__main__":
    main()
