"""bitsandbytes' 32-bit paged AdamW keeps fp32 states whatever the parameter's dtype (issue 16):
Optimizer2State.init_state picks torch.float32 from optim_bits == 32 alone (bitsandbytes 0.50.2,
bitsandbytes/optim/optimizer.py:495-510), while torch's AdamW makes its states with
zeros_like(p). Pure bf16 full training (no master copy) of Llama-3.1-8B: 8 B of states per
parameter with paged-adamw, 4 B with adamw."""
import vramrules


def _states(optimizer: str) -> float:
    r = vramrules.evaluate("llama3.1-8b", mode="train-full", optimizer=optimizer, master_weights=False, needed=False)
    return r.values["optimizer_state_bytes_per_param"]


def test_paged_adamw_states_are_fp32_for_bf16_parameters():
    assert _states("paged-adamw") == 8
    assert _states("adamw") == 4          # torch: states like the bf16 parameter
    with_master = vramrules.evaluate("llama3.1-8b", mode="train-full", optimizer="paged-adamw", needed=False)
    assert with_master.values["optimizer_state_bytes_per_param"] == 8
