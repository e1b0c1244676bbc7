"""`vramrules sweep`: models x modes x precisions x GPUs x grids of any numeric input, in-process.

Two kinds of axis:

- resolved axes: the model, the precision, any other slot, choice and boolean inputs and the layout
  (tp, pp, dp, gpus: they decide how the GPUs are split, evaluation.scenario._layout). Each
  combination is resolved once (evaluation.scenario.resolve);
- compiled axes: the other numeric inputs (seq_len, batch, lora_rank, zero, ep, ...) in the order
  given, then the GPUs, innermost. One generated loop nest runs over them (compile_grid): each rule
  sits in the innermost loop whose axis it reads, directly or through another rule, so a rule that
  reads no axis is computed once per resolved scenario, one that reads only seq_len once per
  seq_len, and only the fit rules run once per GPU.

Backends: "python" (the generated loop) or "numpy" (backends/vectorized: the same checked trees on
arrays, one array dimension per axis). Both return one row per scenario, (status, total, usable,
fits, *components), status OK, BROKEN (a constraint) or LOCATE: a rule raised, a value is not
finite or a component is negative somewhere on the row's path, and the located evaluator
(backends.compiler.run) evaluates that row again to name the rule and its file:line. Rows come in
blocks of at most CHUNK, so memory stays flat however many rows a sweep has."""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from ..backends.loops import BROKEN, FAILED, LOCATE, OK, compile_grid, depths  # noqa: F401  (the row statuses, as sweep's)
from ..errors import UsageError, VramrulesError

CHUNK = 1 << 12          # rows per block of the generated loop (the rules read by no axis: ~1% of a block's time)
VECTOR_CHUNK = 1 << 17   # rows per call of the numpy backend (its blocks are read 4,096 rows at a time)
LAYOUT = ("tp", "pp", "dp", "gpus")  # numeric inputs that are resolved, not compiled: they decide the layout
BACKENDS = ("python", "numpy")
BROKEN_TEXT = "breaks a layout constraint"


@dataclass
class Row:
    model: str
    mode: str
    precision: str
    gpu: str
    total: float
    usable: float
    fits: bool
    components: dict
    error: str = ""
    inputs: dict = field(default_factory=dict)  # the grid's values of this row (seq_len, batch, ...)


@dataclass
class Block:
    """The rows of one resolved scenario over (a chunk of) the compiled axes: row i is the i-th
    combination of `values` (compiled axes, then GPU ids) in order, the last axis fastest."""

    model: str
    mode: str
    precision: str
    fixed: dict            # the resolved grid inputs of this block: {name: value}
    names: list            # the compiled axes' input names (then the GPUs)
    values: list           # per compiled axis its values in this block; the last is the GPU ids
    rows: list | None      # (status, total, usable, fits, *components) per row; None: every row is `error`
    components: list
    optional: tuple = ()
    errors: dict = field(default_factory=dict)  # row index -> the located evaluator's message
    error: str = ""        # every row's message (the scenario did not resolve)

    def __len__(self):
        return math.prod(len(v) for v in self.values)

    def keys(self):
        return itertools.product(*self.values)

    def iter_rows(self):
        """(keys, status, total, usable, fits, {component: bytes}, error) per row."""
        comps, optional = self.components, self.optional
        if self.rows is None:
            for k in self.keys():
                yield k, FAILED, 0.0, 0.0, False, {}, self.error
            return
        for i, (k, r) in enumerate(zip(self.keys(), self.rows)):
            s = r[0]
            if s == OK:
                yield k, OK, r[1], r[2], bool(r[3]), _shown(dict(zip(comps, r[4:])), optional), ""
            else:
                yield k, s, 0.0, 0.0, False, {}, BROKEN_TEXT if s == BROKEN else self.errors[i]


def grid(cat, models=None, modes=None, precisions=None, gpus=None, rules="default"):
    from .matrix import axes

    models, modes, gpus = axes(cat, models, modes, gpus, rules)
    from ..reading.names import find

    precisions = [find("precision", p, cat.kind("precision")).id for p in precisions or []]
    return models, modes, list(precisions) if precisions else [None], gpus


def split_axes(cat, axes: dict | None) -> tuple:
    """({compiled input: [values]}, {resolved input or slot: [values]}) of the grid, each value
    checked as the vocabulary declares it (a bad value is a UsageError naming the option)."""
    vocab = cat.vocabulary
    compiled, resolved = {}, {}
    for name, vals in (axes or {}).items():
        spec = vocab.inputs.get(name)
        if spec is None and name not in vocab.slots:
            from ..errors import did_you_mean

            near = did_you_mean(name, vocab.names())
            raise UsageError(f"unknown scenario option '{name}'" + (f" ({near})" if near else ""))
        vals = list(vals)
        if not vals:
            raise UsageError(f"the grid of {spec.option if spec else name} has no values")
        if spec is not None:
            try:
                vals = [spec.coerce(v) for v in vals]
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if spec.decl in ("integer", "number") and name not in LAYOUT:
                compiled[name] = vals
                continue
        resolved[name] = vals
    return compiled, resolved


def run(cat, models, modes, precisions, gpus, rules="default", options=None, progress=None, axes=None, backend="python"):
    """Yield a Row per scenario (blocks() row by row)."""
    for b in blocks(cat, models, modes, precisions, gpus, rules, options, progress, axes, backend):
        fixed, names = b.fixed, b.names
        for k, _s, total, usable, fits, comps, error in b.iter_rows():
            inputs = dict(fixed, **dict(zip(names, k[:-1]))) if (fixed or names) else {}
            yield Row(b.model, b.mode, b.precision, k[-1], total, usable, fits, comps, error, inputs)


def blocks(cat, models, modes, precisions, gpus, rules="default", options=None, progress=None, axes=None, backend="python"):
    """Yield Blocks, mode by mode, model by model, precision by precision, resolved grid point by
    point, each over the compiled axes (in at most CHUNK rows). `axes`: {input: [values]}, the
    grid; `options`: single values. Placements over GPUs of several types come first, one full
    evaluation each (their layout, and so most rules, differs from the single-type rows)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    compiled, resolved = split_axes(cat, axes)
    for name in list(compiled) + list(resolved):
        options.pop(name, None)
    placements = [g for g in gpus if g not in cat.kind("gpu")]  # rtx-4090+rtx-3090: evaluated one by one
    gpus = [g for g in gpus if g in cat.kind("gpu")]
    if placements:
        yield from _placements(cat, models, modes, precisions, placements, rules, options, compiled, resolved)
    if not gpus:
        return
    names = list(compiled)
    grid_values = [compiled[n] for n in names]
    points = list(itertools.product(*resolved.values()))
    per_combo = math.prod(map(len, grid_values)) * len(gpus)
    total_n = len(models) * len(modes) * len(precisions) * len(points) * per_combo
    done = 0
    gpu_entries = [cat.kind("gpu")[g] for g in gpus]
    for mode in modes:
        loop = grid_loop(cat, rules, mode, names, backend)
        comp = loop.compiled
        optional = tuple(cat.rulesets[rules].modes[mode].optional)
        rows_of: dict = {}  # GPUs of the layout -> the GPU axis's items (device.count is the layout's size)
        axis_items = [[(v,) if leaves else () for v in vals] for vals, leaves in zip(grid_values, loop.axis_leaves[:-1])]
        combos = _combos(cat, rules, mode, models, precisions, resolved, points, names, grid_values, options, gpus, gpu_entries, loop, rows_of)
        if backend == "numpy" and per_combo <= VECTOR_CHUNK:
            window = max(1, VECTOR_CHUNK // per_combo)
            batch: list = []
            for combo in itertools.chain(combos, [None]):
                if combo is not None:
                    batch.append(combo)
                if batch and (combo is None or len(batch) == window):
                    for block in _stacked(loop, batch, names, grid_values, axis_items, gpus, comp, optional):
                        yield block
                        done += len(block)
                    batch = []
                    if progress:
                        progress(done, total_n)
            continue
        for model, pname, fixed, facts, gpu_rows, error in combos:
            limit = VECTOR_CHUNK if backend == "numpy" else CHUNK
            if error:
                for chunk in _chunks(grid_values + [gpus], CHUNK):
                    yield Block(model, mode, pname, fixed, names, chunk, None, comp.components, optional, error=error)
                    done += math.prod(map(len, chunk))
                continue
            for idx in _chunks([list(range(len(v))) for v in grid_values] + [list(range(len(gpus)))], limit):
                items = [[axis_items[a][i] for i in ix] for a, ix in enumerate(idx[:-1])] + [[gpu_rows[i] for i in idx[-1]]]
                values = [[grid_values[a][i] for i in ix] for a, ix in enumerate(idx[:-1])] + [[gpus[i] for i in idx[-1]]]
                if backend == "numpy":
                    from ..backends.vectorized import stack

                    rows = loop.fn(stack([facts]), [[()]] + items)
                else:
                    rows = loop.fn(facts, items)
                block = Block(model, mode, pname, fixed, names, values, rows, comp.components, optional)
                _locate(block, loop, facts, items)
                yield block
                done += len(block)
            if progress:
                progress(done, total_n)


def _combos(cat, rules, mode, models, precisions, resolved, points, names, grid_values, options, gpus, gpu_entries, loop, rows_of):
    """(model, precision, resolved grid point, facts, GPU items, error) per resolved scenario, in
    the order of the rows; facts hold the leaves of no compiled axis, as floats."""
    comp = loop.compiled
    for model in models:
        for prec in precisions:
            for point in points:
                opts = dict(options, **dict(zip(resolved, point)))
                opts.update((n, v[0]) for n, v in zip(names, grid_values))  # resolves with the first grid point
                if prec is not None:
                    opts["precision"] = prec
                fixed = dict(zip(resolved, point))
                try:
                    sc = resolve_for(cat, rules, mode, model, gpus[0], opts)
                    n = sc.inputs["gpus"]
                    each = getattr(cat.rulesets[rules], "devices", "by-type") == "each"
                    gpu_rows = rows_of.get(n) or rows_of.setdefault(n, [tuple(_gpu_fact(g, leaf, n, each, sc.inputs) for leaf in loop.gpu_leaves)
                                                                        for g in gpu_entries])
                    facts = sc.facts(comp.leaves)
                    for leaf, v in facts.items():
                        if type(v) is int:
                            facts[leaf] = float(v)
                    pname = sc.selections["precision"].id
                except VramrulesError as exc:
                    yield model, prec or "", fixed, None, None, str(exc)
                    continue
                yield model, pname, fixed, facts, gpu_rows, ""


def _stacked(loop, batch, names, grid_values, axis_items, gpus, comp, optional):
    """The numpy backend over several resolved scenarios at once: those alike in shape (as many
    layer groups, the same GPU items) are stacked along a leading array dimension and evaluated
    in one call; their blocks come out in the order of the rows."""
    from ..backends.vectorized import stack

    values = [list(v) for v in grid_values] + [list(gpus)]
    out: list = [None] * len(batch)
    alike: dict = {}
    for i, (_m, _p, _f, facts, gpu_rows, error) in enumerate(batch):
        if error:
            continue
        shape = tuple(len(v) for v in facts.values() if isinstance(v, list))
        alike.setdefault((shape, id(gpu_rows)), []).append(i)
    for members in alike.values():
        items = [list(range(len(members)))] + axis_items + [batch[members[0]][4]]
        cols = loop.fn(stack([batch[i][3] for i in members]), [[()] * len(members)] + items[1:])
        for i, part in zip(members, cols.split(len(members))):
            model, pname, fixed, facts, gpu_rows, _e = batch[i]
            block = Block(model, loop.compiled.mode, pname, fixed, names, values, part, comp.components, optional)
            _locate(block, loop, facts, items[1:])
            out[i] = block
    for i, (model, pname, fixed, _facts, _rows, error) in enumerate(batch):
        if error:
            yield Block(model, loop.compiled.mode, pname, fixed, names, values, None, comp.components, optional, error=error)
        else:
            yield out[i]


def resolve_for(cat, rules, mode, model, gpu, opts):
    from ..evaluation.scenario import resolve

    return resolve(cat, rules=rules, mode=mode, model=model, gpu=gpu, **opts)


class GridLoop:
    """One lean mode compiled over axes: fn(facts, items) -> rows, or None when a rule that reads
    no axis raised (every row is located). `facts` holds the leaves of no axis; items[k] the
    k-th axis's items, each a tuple of that axis's leaves (`axis_leaves[k]`) in order."""

    def __init__(self, compiled, axis_leaves: list, fn, depth: dict, backend: str):
        self.compiled, self.axis_leaves, self.fn, self.depth, self.backend = compiled, axis_leaves, fn, depth, backend
        self.gpu_leaves = axis_leaves[-1]

    @property
    def hoisted(self) -> int:
        return sum(1 for n in self.compiled.order if self.depth[n] == 0)

    def __repr__(self):
        return f"GridLoop({self.compiled.ruleset}/{self.compiled.mode}, {self.backend}, depths {self.depth_counts()})"

    def depth_counts(self) -> list:
        """Rules per loop depth: [computed once, once per item of axis 0, ...]."""
        out = [0] * (len(self.axis_leaves) + 1)
        for n in self.compiled.order:
            out[self.depth[n]] += 1
        return out


def grid_loop(cat, rules: str, mode: str, names, backend: str = "python") -> GridLoop:
    """The lean mode of `mode` (with the fit rules) as a loop over the inputs `names`, then the
    GPUs; made once per catalog."""
    from ..evaluation.evaluate import compiled_mode

    key = (rules, mode, "grid", tuple(names), backend)
    loop = cat.functions.get(key)
    if loop is None:
        lean = compiled_mode(cat, rules, mode, True, lean=True)
        axis_leaves = [tuple(n for n in (f"input.{name}",) if n in lean.leaves) for name in names]
        axis_leaves.append(tuple(n for n in lean.leaves if n.startswith(("gpu.", "device."))))
        if backend == "numpy":
            from ..backends.vectorized import compile_grid as vector_grid

            fn, depth = vector_grid(lean, [()] + axis_leaves), depths(lean, axis_leaves)  # a leading axis: stacked scenarios
        else:
            fn, depth = compile_grid(lean, axis_leaves)
        loop = cat.functions[key] = GridLoop(lean, axis_leaves, fn, depth, backend)
    return loop


def _chunks(axes: list, limit: int):
    """The cartesian product of `axes` (lists), in order, as sub-grids of at most `limit` rows:
    the inner axes whole, the next one in slices, the outer ones an item at a time."""
    sizes = [len(a) for a in axes]
    j, inner = len(axes), 1
    while j > 0 and inner * sizes[j - 1] <= limit:
        j -= 1
        inner *= sizes[j]
    if j == 0:
        yield axes
        return
    step = max(1, limit // inner)
    for prefix in itertools.product(*[range(s) for s in sizes[:j - 1]]):
        head = [[axes[i][p]] for i, p in enumerate(prefix)]
        for s in range(0, sizes[j - 1], step):
            yield head + [axes[j - 1][s:s + step]] + axes[j:]


def _locate(block: Block, loop: GridLoop, facts: dict, items: list) -> None:
    """Evaluate the LOCATE rows again with the located evaluator: it names the failing rule and
    its file:line (FAILED), or finds the row holds after all (a sum of finite numbers that
    overflowed). A whole block that failed in a rule reading no axis is one evaluation when no
    rule before that one in the mode's order reads an axis."""
    from ..backends.compiler import run as run_rules

    comp = loop.compiled
    if block.rows is None:
        block.rows = [(LOCATE,)] * len(block)
    rows = block.rows
    todo = rows.todo() if hasattr(rows, "todo") else [i for i, r in enumerate(rows) if r[0] == LOCATE]
    shared = None
    for i in todo:
        if shared is not None:
            block.errors[i] = shared
            rows[i] = (FAILED,)
            continue
        f = dict(facts)
        for item, axis in zip(_key(items, i), loop.axis_leaves):
            f.update(zip(axis, item))
        try:
            v = run_rules(comp, f)
        except VramrulesError as exc:
            block.errors[i] = str(exc)
            rows[i] = (FAILED,)
            if len(todo) == len(rows) and _before_any_axis(loop, str(exc)):
                shared = str(exc)
            continue
        rows[i] = (OK if all(v[c] for c in comp.constraints) else BROKEN, v["total"], v["usable_memory_per_gpu"], v["fits"],
                   *(v[c] for c in comp.components))


def _key(items, i):
    out = []
    for axis in reversed(items):
        i, r = divmod(i, len(axis))
        out.append(axis[r])
    return tuple(reversed(out))


def _before_any_axis(loop: GridLoop, message: str) -> bool:
    """The failing rule (named in the message) and every rule before it read no axis: then every
    row of the block fails the same way."""
    for name in loop.compiled.order:
        if loop.depth[name]:
            return False
        if f"rule '{name}' " in message:
            return True
    return False


def _placements(cat, models, modes, precisions, placements, rules, options, compiled, resolved):
    """Rows for placements over GPUs of several types: each a full evaluation (its layout, and
    so most of its rules, differs from the single-type rows the compiled loop shares)."""
    from ..evaluation.evaluate import evaluate_in

    names = list(compiled)
    for mode in modes:
        for model in models:
            for prec in precisions:
                for point in itertools.product(*resolved.values()):
                    fixed = dict(zip(resolved, point))
                    for gridpoint in itertools.product(*compiled.values()):
                        opts = dict(options, **fixed, **dict(zip(names, gridpoint)), **({"precision": prec} if prec else {}))
                        rows = []
                        for g in placements:
                            try:
                                r = evaluate_in(cat, model, mode, gpu=g, rules=rules, **opts)
                            except VramrulesError as exc:
                                rows.append((FAILED, str(exc), prec or ""))
                                continue
                            fit = r.fit
                            assert fit is not None  # evaluated with GPUs
                            rows.append((OK, r.total.bytes, fit.capacity_per_gpu.bytes, fit.fits, {c.name: c.memory.bytes for c in r.components},
                                         r.scenario.selections["precision"].id))
                        for g, row in zip(placements, rows):
                            values = [[v] for v in gridpoint] + [[g]]
                            if row[0] == FAILED:
                                yield Block(model, mode, row[2], fixed, names, values, None, [], error=row[1])
                            else:
                                comps = list(row[4])
                                yield Block(model, mode, row[5], fixed, names, values, [(OK, row[1], row[2], row[3], *row[4].values())], comps)


def _gpu_fact(gpu, leaf: str, n: float, each: bool = False, inputs: dict | None = None):
    """One GPU row's value of a gpu.* or device.* leaf: a sweep places the workload on n GPUs of
    one type, a placement of one device entry (or, for a rule set that lists each GPU, n entries
    of one; a per-device input such as --tensor-split gives each its value, 0 where it gives none)."""
    head, _, field_name = leaf.partition(".")
    if head == "gpu":
        return gpu.facts[field_name]
    k = int(n) if each else 1
    if field_name == "count":
        return [1.0] * k if each else [float(n)]
    if inputs is not None and field_name in inputs:
        given = inputs[field_name]
        return [float(given[i]) if i < len(given) else 0.0 for i in range(k)]
    return [gpu.facts[field_name]] * k


def _shown(components: dict, optional) -> dict:
    """The components as a single evaluation lists them: an optional one only when not zero."""
    return {c: v for c, v in components.items() if not (c in optional and v == 0)} if optional else components


def matrix_rows(cat, items: list, rules: str, out: dict) -> list:
    """Rows of a scenario matrix (questions/matrix.py) without their components, for what diff
    reads (totals and verdicts): the scenarios without options of one GPU type run in the
    compiled loop above, each model and mode resolved once for all its GPUs (about five times
    the rate of one evaluation each; a test holds the two to the same rows). Fills `out`
    {scenario.key: matrix.Row} and returns the scenarios left for matrix.evaluate."""
    from .matrix import Row, Scenario

    rest: list = []
    by_mode: dict[str, tuple[dict, dict]] = {}
    for sc in items:
        if sc.options or sc.gpu not in cat.kind("gpu") or sc.model not in cat.kind("model"):
            rest.append(sc)  # options, placements and unknown names: one evaluation each, with its own error
        else:
            models, gpus = by_mode.setdefault(sc.mode, ({}, {}))
            models[sc.model], gpus[sc.gpu] = None, None
    wanted = {sc.key for sc in items}
    rs = cat.rulesets.get(rules)
    for mode, (models, gpus) in by_mode.items():
        if rs is None or mode not in rs.modes:
            rest += [sc for sc in items if sc.mode == mode and not sc.options]
            continue
        for r in run(cat, list(models), [mode], [None], list(gpus), rules):
            key = (r.model, r.mode, r.gpu, ())
            if key in wanted:
                row = out[key] = Row(Scenario(r.model, r.mode, r.gpu), error=r.error)
                if not r.error:
                    row.total, row.per_gpu, row.capacity, row.fits = r.total, r.total, r.usable, r.fits  # one GPU: needed per GPU is the total
    return rest
