"""The contract between the engine and a rule set, declared once: the rule names the engine
reads, what each must be, the rules the engine derives itself, and the mode roles. Every rule
set is checked against it when it loads (rules.check_mode)."""
from __future__ import annotations

MEMORY, PARAMS, NUMBER, BOOLEAN = "[information]", "[parameter]", "", "boolean"

TOTAL = "total"              # derived: the sum of the mode's components
WORKING_SET = "working_set"  # derived, when a rule reads it: the components that do not read it
DERIVED = {
    TOTAL: "the sum of the mode's components",
    WORKING_SET: "the sum of the mode's components that do not depend on the working set",
}

# read with a GPU (the fit verdict): every rule set defines them
WITH_GPU = {"usable_memory_per_gpu": MEMORY, "per_gpu_total": MEMORY, "headroom": MEMORY, "fits": BOOLEAN}
# read when a rule set defines them: checked for their kind then
OPTIONAL = {"params_total": PARAMS, "zero_stage": NUMBER}
# a host verdict (data/rules/llamacpp.yaml: --host-ram): what the host must hold, what it can,
# the difference, and whether it holds it; the renderers show the host as a device of the plan
HOST_VERDICT = {"host_needed": MEMORY, "host_usable": MEMORY, "host_headroom": MEMORY, "host_fits": BOOLEAN}
HOST_RAM = "host_ram"  # the input that gives the host's memory (0 B: not given, not checked)
# a per-device plan (data/rules/llamacpp.yaml: one device per GPU, split unevenly): rules `per:
# device` for what each GPU needs, can give, and the difference; a mode component C has its
# share on each GPU in the per-device rule DEVICE_PREFIX + C where the rule set defines one, and
# a per-device rule the mode reports is shown per GPU
DEVICE_PLAN = {"device_total": MEMORY, "device_usable": MEMORY, "device_headroom": MEMORY}
DEVICE_PREFIX = "device_"

# what a mode's role lets the engine assume: inference and serve grow --gpus over tensor
# parallelism in the fewest-GPUs search, train over data parallelism
MODE_ROLES = ("inference", "serve", "train")
# the two slots the engine treats specially (vocabulary.yaml `role:`): --model-config and
# --params fill the model; --gpu auto and the fit verdict read the GPU
SLOT_ROLES = ("model", "gpu")
