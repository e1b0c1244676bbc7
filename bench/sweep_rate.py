"""Run by bench/run with the measured environment's Python: in-process sweep rates, as JSON.

  sweep:   vramrules.questions.sweep.run over models x modes x 8 precisions x GPUs (what `vramrules sweep`
           does: each (model, mode, precision) resolved once, its GPUs in one compiled loop that
           computes GPU-independent rules once), best pass of those within the time given.
  unshared: the same grid, one call of the lean compiled function per scenario with nothing
           shared between GPUs: the cost of a scenario evaluated alone, for comparison."""
import json
import sys
import time

from vramrules.api import compiled_mode, load_catalog
from vramrules.evaluation.scenario import resolve
from vramrules.questions import sweep as S

PRECISIONS = ["fp32", "bf16", "fp8", "int8", "int4", "nf4-dq", "gguf-q4-k-m", "gguf-q8-0"]


def best_rate(one_pass, seconds):
    best, count = 0.0, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        count = one_pass()
        best = max(best, count / (time.perf_counter() - t))
    return best, count


def unshared_pass(cat, models, modes, precisions, gpus):
    n = 0
    for mode in modes:
        comp = compiled_mode(cat, "default", mode, True, lean=True)
        gpu_leaves = [leaf for leaf in comp.leaves if leaf.startswith("gpu.")]
        gpu_facts = [{leaf: cat.kind("gpu")[g].facts[leaf[4:]] for leaf in gpu_leaves} for g in gpus]
        fn = comp.fn
        for model in models:
            for prec in precisions:
                try:
                    facts = resolve(cat, rules="default", mode=mode, model=model, gpu=gpus[0], precision=prec).facts(comp.leaves)
                except Exception:
                    continue
                for g in gpu_facts:
                    facts.update(g)
                    fn(facts)
                    n += 1
    return n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    cat = load_catalog()
    grid = S.grid(cat, precisions=PRECISIONS)
    rate, count = best_rate(lambda: sum(1 for _ in S.run(cat, *grid)), seconds)
    unshared, ucount = best_rate(lambda: unshared_pass(cat, *grid), seconds)
    print(json.dumps({"sweep_rate": rate, "sweep_count": count, "unshared_rate": unshared, "unshared_count": ucount}))


if __name__ == "__main__":
    main()
