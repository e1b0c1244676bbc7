"""Typed views over the merged data: models, GPUs, precisions, optimizers, LoRA target sets,
assumptions; each entry flattened to the facts that formulas may name (model.hidden_size,
gpu.memory, ...) with the file:line each value came from.

Values are canonical plain floats (bytes for memory), booleans, or enum strings.
"""
from __future__ import annotations

import os
import re
from typing import Any

from ..errors import DataError, Location, Problem, UsageError, coded
from ..valuekinds import BOOL, ENUM, NUM  # re-exported: the stages read them from here

# data file -> (schema name, sections holding entries by id, entry kind per section)
FILES = {
    "models.yaml": ("models", {"models": "model"}),
    "gpus.yaml": ("gpus", {"gpus": "gpu"}),
    "precisions.yaml": ("precisions", {"precisions": "precision"}),
    "optimizers.yaml": ("optimizers", {"optimizers": "optimizer"}),
    "assumptions.yaml": ("assumptions", {"assumptions": "assumption", "lora_targets": "lora_targets"}),
    "measurements.yaml": ("measurements", {"measurements": "measurement"}),
    "engines.yaml": ("engines", {"engines": "engine"}),
    "vocabulary.yaml": ("vocabulary", {}),
}
RULES_DIR = "rules"
# Kinds whose entries a run after an edit may take from the catalog built before, unparsed and
# unchecked, when their text is unchanged (evaluation/load.py): each is checked on its own text,
# the schemas and the engine, and (models) the precisions' ids, which the reuse key includes.
REUSABLE = ("model", "gpu")


def reusable_sections(file_key: str) -> tuple:
    """The sections of a data file whose entries may be reused."""
    return tuple(s for s, kind in FILES.get(file_key, ("", {}))[1].items() if kind in REUSABLE)



# Plain classes, not dataclasses: these are built on every run, and dataclass decoration of a
# module's classes costs more than the rest of a warm `eval` (issue 7).
class FieldType:
    __slots__ = ("kind", "dim", "choices", "default", "default_from", "description")
    FIELDS = __slots__  # the constructor's arguments, in order: what the catalog cache stores

    def __init__(self, kind: str, dim: str = "", choices: tuple = (), default: Any = None,
                 default_from: str | None = None, description: str = ""):
        self.kind = kind                  # NUM | BOOL | ENUM
        self.dim = dim                    # '' dimensionless, '[information]', ...
        self.choices = choices
        self.default = default
        self.default_from = default_from
        self.description = description


class Entry:
    FIELDS = ("kind", "id", "raw", "location", "layer", "facts", "fact_where")

    def __init__(self, kind: str, id: str, raw: dict, location: Location, layer: str,
                 facts: dict | None = None, fact_where: dict | None = None):
        self.kind, self.id, self.raw, self.location, self.layer = kind, id, raw, location, layer
        self.facts = {} if facts is None else facts                 # 'hidden_size' -> 8192.0 ; 'moe.num_experts' -> 0.0
        self.fact_where = {} if fact_where is None else fact_where  # field -> Location, or None for a schema default

    def __repr__(self):
        return f"Entry({self.kind}:{self.id} at {self.location})"

    @property
    def source(self) -> str:
        return self.raw.get("source", "")

    @property
    def name(self) -> str:
        return self.raw.get("name", self.id)


class Merged:
    """One logical data file after layering: data plus where every value came from."""

    def __init__(self, name: str, data: Any = None, where_map: dict | None = None, files: list | None = None,
                 digests: list | None = None):
        self.name, self.data = name, data
        self.where_map = {} if where_map is None else where_map  # pointer -> (Location, layer)
        self.files = [] if files is None else files
        self.digests = [] if digests is None else digests        # what each merged document was (content hash, or its data)
        self.parts: dict = {}   # (section, id) -> (text hash, 0-based first line, file, layer) of an entry one document alone defines
        self.reused: list = []  # [(section, id)]: entries left out of data, to be taken from the catalog built before
        self.ids: dict = {}     # section -> {id: None} in the order the layers define them (reused ones included)

    @property
    def identity(self) -> str:
        """A key for 'these exact inputs': the validation cache skips a schema pass it has seen pass."""
        import hashlib

        return hashlib.sha256("\0".join(self.digests).encode()).hexdigest()

    def where(self, pointer) -> Location:
        p = tuple(pointer)
        while p not in self.where_map and p:
            p = p[:-1]
        loc = self.where_map.get(p)
        return loc[0] if loc else Location(self.files[0] if self.files else self.name)

    def layer(self, pointer) -> str:
        p = tuple(pointer)
        while p not in self.where_map and p:
            p = p[:-1]
        loc = self.where_map.get(p)
        return loc[1] if loc else "built-in"


def _atomic(pointer) -> bool:
    """Subtrees that an overlay replaces whole instead of merging field by field."""
    n = len(pointer)
    return (n == 2 and pointer[0] == "rules") or (n == 4 and pointer[0] == "modes" and pointer[2] == "rules") \
        or (n == 3 and pointer[0] == "modes" and pointer[2] == "components")


def merge_into(target: Merged, doc):  # doc: loader.Document
    target.files.append(doc.path)
    target.digests.append(f"{doc.digest}" if doc.digest else f"{doc.path}\0{repr(doc.data)}")  # content, not where it lies

    def record(value, pointer):
        target.where_map[pointer] = (doc.where(pointer), doc.layer)
        if isinstance(value, dict):
            for k, v in value.items():
                record(v, pointer + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                record(v, pointer + (i,))

    def merge(dst, src, pointer):
        for k, v in src.items():
            p = pointer + (k,)
            if isinstance(v, dict) and isinstance(dst.get(k), dict) and not _atomic(p):
                merge(dst[k], v, p)
                target.where_map[p] = target.where_map.get(p) or (doc.where(p), doc.layer)
            else:
                dst[k] = v
                record(v, p)

    if target.data is None:
        target.data = {}
    _merge_parts(target, doc)
    if not isinstance(doc.data, dict):
        target.data = doc.data  # schema validation reports the wrong type
        record(doc.data, ())
        return
    target.where_map.setdefault((), (doc.where(()), doc.layer))
    merge(target.data, doc.data, ())


def _merge_parts(target: Merged, doc) -> None:
    """Which entries one document alone defines (reusable), and the order of every section's ids."""
    if not isinstance(doc.data, dict):
        return
    by_section: dict = {}
    for section, eid in doc.parts:
        by_section.setdefault(section, []).append(eid)
    for section, value in doc.data.items():
        if isinstance(value, dict) and section not in by_section:
            by_section[section] = list(value)
    for section, ids in by_section.items():
        order = target.ids.setdefault(section, {})
        for eid in ids:
            k = (section, eid)
            if eid in order:
                target.parts[k] = None  # a second layer defines it: merged, never reused
            else:
                order[eid] = None
                part = doc.parts.get(k)
                if part is not None:
                    target.parts[k] = (part[0], part[1], doc.path, doc.layer)  # hash, first line, its file and layer
    target.reused.extend(doc.reused)


def load_layers(dirs: list[tuple[str, str]], reuse=None) -> tuple[dict, list[Problem]]:
    """Load and merge every known file of each (dir, layer). Returns ({name: Merged}, problems).
    `reuse(file key, section, id, text hash)`: True for an entry the caller has built from that
    text (loader.load_file); one that turns out to be defined in two layers is read after all."""
    docs, problems = _load_docs(dirs, reuse)
    if reuse is not None:
        defined: dict = {}
        for key, doc, _again in docs:
            for k in list(doc.parts) or [(s, e) for s, v in (doc.data.items() if isinstance(doc.data, dict) else ()) if isinstance(v, dict) for e in v]:
                defined[(key,) + tuple(k)] = defined.get((key,) + tuple(k), 0) + 1
        for i, (key, doc, again) in enumerate(docs):
            if any(defined[(key,) + tuple(k)] > 1 for k in doc.reused):
                try:
                    docs[i] = (key, again(), again)
                except DataError as exc:
                    problems.extend(coded(exc.problems, "yaml_error"))
    merged: dict[str, Merged] = {}
    for key, doc, _again in docs:
        merge_into(merged.setdefault(key, Merged(key)), doc)
    return merged, problems


def _load_docs(dirs, reuse) -> tuple[list, list[Problem]]:
    """[(file key, Document, a function that reads it again without reuse)], problems."""
    from pathlib import Path

    from .loader import load_file  # the YAML loader: only a run that reads files imports it

    docs: list = []
    problems: list[Problem] = []
    for folder, layer in dirs:
        directory = Path(folder)
        if not directory.is_dir():
            problems.append(Problem(Location(str(directory)), "", "data directory does not exist", "give a folder holding models.yaml, gpus.yaml, ..."))
            continue
        paths = [(directory / f, f) for f in FILES]
        rules_dir = directory / RULES_DIR
        if rules_dir.is_dir():
            paths += [(p, f"{RULES_DIR}/{p.name}") for p in sorted(rules_dir.glob("*.yaml"))]
        if layer != "built-in":
            problems.extend(ignored_files(directory))
        for path, key in paths:
            if not path.is_file():
                if path.exists() or path.is_symlink():
                    problems.append(Problem(Location(_display(path)), "", "not a regular file: an overlay file that is a folder, a FIFO or a broken link would be ignored",
                                            "make it a YAML file, or remove it"))
                continue
            shown = _display(path)
            sections = reusable_sections(key)
            take = (lambda s, e, h, _k=key: reuse(_k, s, e, h)) if reuse is not None and sections else None
            try:
                doc = load_file(path, shown, layer, sections, take)
            except DataError as exc:
                problems.extend(coded(exc.problems, "yaml_error"))
                continue
            docs.append((key, doc, lambda _p=path, _s=shown, _l=layer, _x=sections: load_file(_p, _s, _l, _x)))
    return docs, problems


def ignored_files(directory) -> list[Problem]:
    """YAML files in an overlay folder that no layer reads (assumptions.yml, assumption.yaml,
    rules/mine.yml): in a policy-review tool an override that does nothing is an error."""
    from ..errors import did_you_mean

    out = []
    known = list(FILES)
    for p in sorted(directory.iterdir()):
        if p.suffix in (".yaml", ".yml") and p.name not in FILES:
            out.append(Problem(Location(_display(p)), "", "this file is not read: the data files have fixed names",
                               did_you_mean(p.stem + ".yaml", known) or "data files: " + ", ".join(known)))
    rules_dir = directory / RULES_DIR
    if rules_dir.is_dir():
        for p in sorted(rules_dir.iterdir()):
            if p.suffix == ".yml" or (p.suffix == ".yaml" and not p.is_file()):
                out.append(Problem(Location(_display(p)), "", "this rule file is not read", "rule files are regular files named rules/NAME.yaml"))
    return out


def _display(path) -> str:
    """Absolute: the catalog cache is shared by runs from any folder; Location shows it relative
    to the folder of the run that prints it."""
    return os.path.abspath(path)


# ---------------------------------------------------------------- field types from schemas

def field_types(schema_name: str, section: str) -> dict[str, FieldType]:
    """The names formulas may use for one entry kind, read off its JSON Schema."""
    from .schema import load_schema

    schema = load_schema(schema_name)
    entry = schema["properties"][section]["additionalProperties"]
    out: dict[str, FieldType] = {}

    def walk(props, prefix):
        for name, spec in props.items():
            full = prefix + name
            if spec.get("type") == "object":
                walk(spec.get("properties", {}), full + ".")
                continue
            ft = _field_type(spec)
            if ft:
                out[full] = ft

    walk(entry.get("properties", {}), "")
    return out


def _field_type(spec) -> FieldType | None:
    t = spec.get("type")
    desc = spec.get("description", "")
    if "enum" in spec:
        return FieldType(ENUM, choices=tuple(spec["enum"]), default=spec.get("default"), description=desc)
    if t in ("integer", "number"):
        return FieldType(NUM, "", default=spec.get("default"), default_from=spec.get("x-default-from"), description=desc)
    if t == "boolean":
        return FieldType(BOOL, default=spec.get("default"), default_from=spec.get("x-default-from"), description=desc)
    if t == "string" and "x-dimension" in spec:
        return FieldType(NUM, spec["x-dimension"], default=spec.get("default"), default_from=spec.get("x-default-from"), description=desc)
    return None


GROUP_FIELDS = ("count", "attention", "window", "mlp", "recurrent", "chunk")


def group_types() -> dict[str, FieldType]:
    """The names group.FIELD may use, read off the models schema's `layers` items."""
    from .schema import load_schema

    items = load_schema("models")["properties"]["models"]["additionalProperties"]["properties"]["layers"]["items"]
    out = {}
    for name, spec in items["properties"].items():
        ft = _field_type(spec)
        if ft:
            out[name] = ft
    return out


def layer_groups(entry: Entry, merged: Merged | None = None, pointer: tuple = ()) -> list[Problem]:
    """Set the model's layer groups as facts (group.count, group.attention, ... one list each):
    its `layers:` as written, or derived from num_layers, sliding_window(_layers) and
    moe.dense_layers. Derived order: full-attention groups before window groups, dense before
    MoE; where a model has both windows and dense-first MoE layers, windows are taken as spread
    evenly over the stack (derived: our assumption; write `layers:` to say otherwise)."""
    f, raw = entry.facts, entry.raw
    layers = raw.get("layers")
    problems: list[Problem] = []
    if layers:
        groups = [(float(g["count"]), g.get("attention", "full"), float(g.get("window", 0)), g["mlp"], g.get("recurrent", "none"), float(g.get("chunk", 0)))
                  for g in layers]
        total = sum(g[0] for g in groups)
        if merged is not None:
            at = merged.where(pointer + ("layers",))
            if total != f["num_layers"]:
                problems.append(Problem(at, f"/models/{entry.id}/layers", f"the layer groups hold {total:g} layers, num_layers says {f['num_layers']:g}", "make the counts add up to num_layers"))
            for i, g in enumerate(groups):
                if g[1] == "window" and g[2] <= 0:
                    problems.append(Problem(merged.where(pointer + ("layers", i)), f"/models/{entry.id}/layers/{i}", "a window group needs window: TOKENS"))
                if g[1] == "chunked" and g[5] <= 0:
                    problems.append(Problem(merged.where(pointer + ("layers", i)), f"/models/{entry.id}/layers/{i}", "a chunked group needs chunk: TOKENS"))
                if g[3] == "moe" and not f.get("moe.num_experts"):
                    problems.append(Problem(merged.where(pointer + ("layers", i)), f"/models/{entry.id}/layers/{i}", "an moe group in a model without moe.num_experts"))
                need = {"linear": ("linear_attention.num_value_heads", "a linear_attention block"), "mamba": ("ssm.inner_size", "an ssm block"),
                        "mamba2": ("ssm.num_heads", "an ssm block with num_heads")}.get(g[4])
                if need and not f.get(need[0]):
                    problems.append(Problem(merged.where(pointer + ("layers", i)), f"/models/{entry.id}/layers/{i}",
                                            f"a recurrent: {g[4]} group in a model without {need[1]}", f"give the model's {need[0]}"))
                if g[1] == "none" and g[4] == "none" and g[3] == "none":
                    problems.append(Problem(merged.where(pointer + ("layers", i)), f"/models/{entry.id}/layers/{i}", "a layer group with no attention, no recurrent mixer and no MLP"))
    else:
        n = f.get("num_layers", 0.0)
        w = f.get("sliding_window_layers", 0.0) if f.get("sliding_window", 0.0) > 0 else 0.0
        dense = f.get("moe.dense_layers", 0.0) if f.get("moe.num_experts", 0.0) else n
        wd = float(round(w * dense / n)) if n else 0.0  # window layers among the dense ones
        cells = [(n - w - (dense - wd), "full", 0.0, "moe", "none", 0.0), (w - wd, "window", f.get("sliding_window", 0.0), "moe", "none", 0.0)]
        cells = [(dense - wd, "full", 0.0, "dense", "none", 0.0)] + cells[:1] + [(wd, "window", f.get("sliding_window", 0.0), "dense", "none", 0.0)] + cells[1:]
        groups = [c for c in cells if c[0] > 0]
    for k, field in enumerate(GROUP_FIELDS):
        f["group." + field] = [g[k] for g in groups]
        entry.fact_where["group." + field] = merged.where(pointer + ("layers",)) if layers and merged is not None else None
    return problems


def _get(raw: dict, dotted: str):
    cur = raw
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None, False
        cur = cur[part]
    return cur, True


def build_entry(kind: str, eid: str, raw: dict, types: dict[str, FieldType], merged: Merged, pointer: tuple) -> Entry:
    from .units import canonical, quantity

    entry = Entry(kind, eid, raw, merged.where(pointer), merged.layer(pointer))
    for name, ft in types.items():
        value, present = _get(raw, name)
        if present:
            entry.fact_where[name] = merged.where(pointer + tuple(name.split(".")))
        elif ft.default_from:
            value, present = _get(raw, ft.default_from)
            entry.fact_where[name] = merged.where(pointer + tuple(ft.default_from.split("."))) if present else None
        if not present:
            value = ft.default
            entry.fact_where[name] = None
        if value is None:
            value = 0 if ft.kind == NUM else (False if ft.kind == BOOL else "")
        if ft.kind == NUM:
            value = canonical(quantity(value)) if isinstance(value, str) else float(value)
        entry.facts[name] = value
    return entry


class Catalog:
    def __init__(self, entries=None, types=None, assumptions=None, rulesets=None, files=None, overrides=None, checked=None,
                 vocabulary=None):
        self.entries = {} if entries is None else entries              # kind -> {id: Entry}
        self.types = {} if types is None else types                    # kind -> {field: FieldType}
        self.assumptions = {} if assumptions is None else assumptions  # name -> Assumption
        self.rulesets = {} if rulesets is None else rulesets           # name -> rules.RuleSet
        self.files = {} if files is None else files                    # key -> Merged
        self.overrides = {} if overrides is None else overrides        # assumption name -> (was, now) from --set
        self.checked = {} if checked is None else checked              # (rule set, mode, with_fit) -> (order, kinds, dims, deps)
        self.vocabulary = vocabulary                                   # vocabulary.Vocabulary: inputs and slots
        self.functions: dict = {}                                      # compiled modes of this catalog (api.compiled_mode)
        self.parts: dict = {}                                          # kind -> {id: (first line, text hash, file, layer)}: entries read in parts
        self.context = ""                                              # what every entry also depends on (catalog_cache.reuse_context)
        self.rules_key = ""                                            # what the rule sets depend on (catalog_cache.rules_key)
        self.on_check = None                                           # on_check(key, result): keeps a mode check made after load
        self.check_memo: dict = {}                                     # formula checks shared by the modes checked (rules.check_mode)

    def kind(self, kind: str) -> dict:
        return self.entries.get(kind, {})


class Assumption:
    FIELDS = ("name", "value", "text", "dim", "kind", "raw", "location", "layer")

    def __init__(self, name: str, value: Any, text: Any, dim: str, kind: str, raw: dict, location: Location, layer: str):
        self.name = name
        self.value = value    # canonical float, or bool
        self.text = text      # as written ('500 MiB')
        self.dim = dim
        self.kind = kind      # NUM | BOOL
        self.raw, self.location, self.layer = raw, location, layer

    def __repr__(self):
        return f"Assumption({self.name}={self.text!r} at {self.location})"

    @property
    def source(self) -> str:
        return self.raw.get("source", "")


def build(merged: dict) -> tuple[Catalog, list[Problem]]:
    """Schema-validate every merged file and build the typed catalog (not the rules)."""
    from .schema import validate
    from .units import UnitProblem, canonical, dimension_of, quantity

    cat = Catalog(files=merged)
    problems: list[Problem] = []
    for fname, (schema_name, sections) in FILES.items():
        m = merged.get(fname)
        if m is None:
            problems.append(Problem(Location(fname), "", "required data file is missing", "the built-in data ships one; an overlay may omit it"))
            continue
        errs = coded(validate(schema_name, m.data, m.where, m.identity), "schema_error")
        problems.extend(errs)
        if errs:
            continue
        for section, kind in sections.items():
            if kind == "assumption":
                for name, raw in (m.data.get(section) or {}).items():
                    v = raw["value"]
                    loc = m.where((section, name, "value"))
                    if isinstance(v, bool):
                        cat.assumptions[name] = Assumption(name, v, v, "", BOOL, raw, loc, m.layer((section, name, "value")))
                        problems.extend(coded(_check_dimension(name, raw, "boolean", m, (section, name)), "assumption_error"))
                        continue
                    try:
                        q = quantity(v)
                    except UnitProblem:  # the schema reported it already
                        continue
                    cat.assumptions[name] = Assumption(name, canonical(q), v, dimension_of(q), NUM, raw, loc, m.layer((section, name, "value")))
                    wrong = _check_dimension(name, raw, dimension_of(q), m, (section, name))
                    problems.extend(coded(wrong or _check_bounds(name, raw, q, m, (section, name))
                                          or _check_spread(name, raw, q, m, (section, name)), "assumption_error"))
                continue
            if kind == "engine":
                problems.extend(coded(_engines(cat, m, section), "data_error"))
                continue
            types = field_types(schema_name, section)
            cat.types[kind] = types
            bucket = cat.entries.setdefault(kind, {})
            for eid, raw in (m.data.get(section) or {}).items():
                bucket[eid] = build_entry(kind, eid, raw, types, m, (section, eid))
                if kind == "model":
                    problems.extend(coded(layer_groups(bucket[eid], m, (section, eid)), "data_error"))
            if kind == "model":
                cat.types["group"] = group_types()
    if "vocabulary.yaml" in merged and not any(p.location.file in merged["vocabulary.yaml"].files for p in problems):
        from . import vocabulary

        cat.vocabulary, vproblems = vocabulary.build(merged["vocabulary.yaml"])
        problems.extend(coded(vproblems, "vocabulary_error"))
        m = merged.get("measurements.yaml")
        if m is not None and not vproblems:
            entries = m.data.get("measurements") if isinstance(m.data, dict) else None  # not an object: a schema error already
            for mid, e in (entries.items() if isinstance(entries, dict) else ()):
                if isinstance(e, dict):
                    problems.extend(coded(cat.vocabulary.check_block(e.get("scenario"), m.where, ("measurements", mid, "scenario"),
                                                                     vocabulary.SCENARIO_FRAME), "schema_error"))
                    scenario = e.get("scenario")
                    if isinstance(scenario, dict) and not {"model", "params", "model_config"} & set(scenario):
                        where = ("measurements", mid, "scenario")  # else validate passes what check-measurements cannot evaluate
                        problems.append(Problem(m.where(where), "/" + "/".join(map(str, where)), "the scenario names no model",
                                                "give model (a catalog id), model_config (a file) or params", code="schema_error"))
    problems.extend(coded(_check_entries(cat), "data_error"))
    return cat, problems


def _engines(cat: Catalog, m: Merged, section: str) -> list[Problem]:
    """Engine profiles: what formulas read of one (engine.NAME) is its settings at a release,
    so an entry's facts are those at its default release (evaluation/engines.py makes the entry
    of another); what the schema cannot check of the releases and settings is reported here."""
    from . import engine_profiles as ep
    from .schema import load_schema

    fields = load_schema("engines")["properties"]["engines"]["additionalProperties"]["properties"]["settings"]["x-fields"]
    types = cat.types["engine"] = {name: ft for name, spec in fields.items() if (ft := _field_type(spec)) is not None}
    bucket = cat.entries.setdefault("engine", {})
    out = []
    for eid, raw in (m.data.get(section) or {}).items():
        entry = Entry("engine", eid, raw, m.where((section, eid)), m.layer((section, eid)))
        bucket[eid] = entry
        found = ep.problems(raw, types)
        for pointer, message, hint in found:
            where = (section, eid, *pointer)
            out.append(Problem(m.where(where), "/" + "/".join(map(str, where)), message, hint))
        if found:
            continue
        for name, items in (raw.get("settings") or {}).items():  # every value's line, for the release that reads it
            for i in range(len(items)):
                entry.fact_where[f"{name}@{i}"] = m.where((section, eid, "settings", name, i, "value"))
        key = ep.release_key(raw["releases"], ep.default_release(raw))
        for name, (value, held) in ep.at_release(raw, key, types).items():
            entry.facts[name] = value
            entry.fact_where[name] = None if held is None else m.where((section, eid, "settings", name, held, "value"))
    return out


def measurement_problems(cat: Catalog, merged: dict) -> list[Problem]:
    """Measurements whose scenario names a catalog entry (model, GPU, precision, ...) that is not
    there, each at its key, or whose mode needs a GPU it does not name: refused when the catalog loads, where check-measurements could not
    evaluate them. Asked of the whole catalog (after the entries an edit left unchanged are
    joined to it: evaluation/load.py)."""
    m = merged.get("measurements.yaml")
    entries = m.data.get("measurements") if m is not None and isinstance(m.data, dict) else None
    if not isinstance(entries, dict) or cat.vocabulary is None:
        return []
    return coded([p for mid, e in entries.items() if isinstance(e, dict)
                  for p in _unknown_names(cat, e.get("scenario"), m, ("measurements", mid, "scenario"))
                  + _gpu_needed(cat, e.get("scenario"), m, ("measurements", mid, "scenario"))], "schema_error")


def _gpu_needed(cat: Catalog, scenario, m, pointer: tuple) -> list[Problem]:
    """A scenario whose mode reads the GPU's capacity (serve) must name a GPU."""
    if not isinstance(scenario, dict) or scenario.get("gpu"):
        return []
    engine = cat.kind("engine").get(str(scenario.get("engine", "")).partition("@")[0]) if scenario.get("engine") else None
    ruleset = scenario.get("rules") or (engine.raw.get("rules") if engine is not None else None) or "default"
    mode = scenario.get("mode") or (engine.raw.get("mode") if engine is not None else None)
    rs = cat.rulesets.get(ruleset) if isinstance(ruleset, str) else None
    if rs is not None and "mode" in scenario and (not isinstance(mode, str) or mode not in rs.modes):
        from ..errors import did_you_mean

        return [Problem(m.where(pointer + ("mode",)), "/" + "/".join(map(str, pointer + ("mode",))),
                        f"unknown mode {scenario['mode']!r} of rule set '{ruleset}'", did_you_mean(str(scenario["mode"]), list(rs.modes)))]
    if rs is None or not isinstance(mode, str) or mode not in rs.modes or not rs.modes[mode].requires_gpu:
        return []
    return [Problem(m.where(pointer), "/" + "/".join(map(str, pointer)), f"mode '{mode}' reads the GPU's capacity, and the scenario names no gpu",
                    "give gpu: ID (the GPU the figure was measured on)")]


def _unknown_names(cat: Catalog, scenario, m, pointer: tuple) -> list[Problem]:
    from .names import find, source_of

    if not isinstance(scenario, dict):
        return []
    out = []
    for key, value in scenario.items():
        slot = cat.vocabulary.slots.get(key)
        if slot is None or not isinstance(value, str) or source_of(value) or value == "auto" or slot.selects not in cat.entries:
            continue
        if slot.selects == "engine":
            names = [value.partition("@")[0]]  # NAME@VERSION
        elif slot.role == "gpu":
            names = [re.sub(r"^\d+x", "", p.strip()) for p in re.split(r"[+,]", value)]  # a placement: 2xrtx-4090+rtx-3090
        else:
            names = [value]
        for name in names:
            try:
                find(slot.selects, name, cat.kind(slot.selects))
            except UsageError as exc:
                out.append(Problem(m.where(pointer + (key,)), "/" + "/".join(map(str, pointer + (key,))), str(exc)))
                break
    return out


def _check_dimension(name, raw, dim: str, m, pointer) -> list[Problem]:
    """The value must measure what the assumption declares (`dimension:`): an overlay that writes
    0.5 where 500 MiB belongs is reported at its own line, not inside a rule that reads it."""
    from .units import describe_dimension

    declared = raw.get("dimension", "")
    got = dim or "dimensionless"
    if got == declared or m.layer(pointer + ("value",)) == "--set":  # overrides.check_dimensions words --set's
        return []
    def words(d):
        return d if d in ("boolean", "dimensionless") else describe_dimension(d)

    decl_at = m.where(pointer + ("dimension",))
    return [Problem(m.where(pointer + ("value",)), "/" + "/".join(pointer) + "/value",
                    f"assume.{name} = {raw['value']!r} is {words(got)}, but assume.{name} is declared {words(declared)} (at {decl_at})",
                    f"write {words(declared)}, with its unit" if declared.startswith("[") else "write a plain number" if declared == "dimensionless" else "write true or false")]


def _check_bounds(name, raw, q, m, pointer) -> list[Problem]:
    """An assumption outside its declared [low, high] is an error, not a silent extrapolation."""
    from .units import UnitProblem, canonical, dimension_of, quantity

    bounds = raw.get("bounds")
    if not bounds:
        return []
    try:
        lo, hi = (quantity(b) for b in bounds)
    except UnitProblem as exc:
        return [Problem(m.where(pointer + ("bounds",)), "/" + "/".join(pointer) + "/bounds", str(exc), exc.hint)]
    if dimension_of(lo) != dimension_of(q) or dimension_of(hi) != dimension_of(q):
        if m.layer(pointer + ("value",)) == "--set":
            return []  # overrides.check_dimensions names the replaced value instead
        return [Problem(m.where(pointer + ("bounds",)), "/" + "/".join(pointer) + "/bounds", f"bounds {bounds} do not have the dimension of the value {raw['value']!r}")]
    if not canonical(lo) <= canonical(q) <= canonical(hi):
        return [Problem(m.where(pointer + ("value",)), "/" + "/".join(pointer) + "/value",
                        f"assume.{name} = {raw['value']!r} is outside its bounds [{bounds[0]}, {bounds[1]}]",
                        "bounds are policy: change them in the same review if the value really belongs outside")]
    return []


def _check_spread(name, raw, q, m, pointer) -> list[Problem]:
    """A measured spread is of the value's kind of unit, low <= high. The value may lie outside
    it (an overlay or a calibration moved it): the answer's ends then take it in."""
    from .units import UnitProblem, canonical, dimension_of, quantity

    spread = raw.get("spread")
    if not isinstance(spread, dict):
        return []
    at = pointer + ("spread",)
    try:
        lo, hi = quantity(spread["low"]), quantity(spread["high"])
    except UnitProblem as exc:
        return [Problem(m.where(at + ("low",)), "/" + "/".join(at + ("low",)), str(exc), exc.hint)]
    if dimension_of(lo) != dimension_of(q) or dimension_of(hi) != dimension_of(q):
        if m.layer(pointer + ("value",)) == "--set":
            return []  # overrides.check_dimensions names the replaced value instead
        end = at + ("low" if dimension_of(lo) != dimension_of(q) else "high",)  # the end's own line (an overlay's, not the file it merged over)
        return [Problem(m.where(end), "/" + "/".join(end), f"spread [{spread['low']}, {spread['high']}] does not have the dimension of the value {raw['value']!r}",
                        "give both ends in the value's kind of unit")]
    if canonical(lo) > canonical(hi):
        return [Problem(m.where(at + ("low",)), "/" + "/".join(at + ("low",)), f"spread low {spread['low']} is above high {spread['high']}", "swap them")]
    return []


def _hint(name, choices) -> str:
    from ..errors import did_you_mean

    return did_you_mean(name, list(choices))


def _check_entries(cat: Catalog) -> list[Problem]:
    """Meaning checks the schema cannot express."""
    out = []
    for p in cat.kind("precision").values():
        block = p.raw.get("block")
        if block:
            derived = block["bytes"] * 8 / block["weights"]
            if abs(derived - p.facts["bits"] * 8) > 1e-9 * max(derived, 1):
                out.append(Problem(p.fact_where["bits"], f"/precisions/{p.id}/bits", f"bits {p.raw['bits']!r} disagree with the block layout ({block['bytes']} bytes per {block['weights']} weights = {derived:g} bit)", "fix one of them"))
        for ref in ("alias_of", "compute"):
            target = p.raw.get(ref)
            if target and target not in cat.kind("precision"):
                out.append(Problem(p.location, f"/precisions/{p.id}/{ref}", f"unknown precision '{target}'"))
    for m in cat.kind("model").values():
        native = m.raw.get("native_precision")
        if native and native not in cat.kind("precision"):
            out.append(Problem(m.location, f"/models/{m.id}/native_precision", f"unknown precision '{native}'", _hint(native, cat.kind("precision"))))
        f = m.facts
        attends = any(a != "none" for a in f.get("group.attention", ["full"]))
        if attends and not (f["num_attention_heads"] and f["num_kv_heads"] and f["head_dim"]):
            out.append(Problem(m.location, f"/models/{m.id}", "a model with attention layers needs num_attention_heads, num_kv_heads and head_dim of at least 1",
                               "a model without attention says so in its layers: (attention: none)"))
        elif f["num_kv_heads"] and f["num_attention_heads"] % f["num_kv_heads"]:
            out.append(Problem(m.fact_where["num_kv_heads"], f"/models/{m.id}/num_kv_heads", f"num_kv_heads {f['num_kv_heads']:g} does not divide num_attention_heads {f['num_attention_heads']:g}", "grouped-query attention needs heads to be a multiple of kv heads"))
        if f["sliding_window_layers"] > f["num_layers"]:
            out.append(Problem(m.fact_where["sliding_window_layers"], f"/models/{m.id}/sliding_window_layers", "more sliding-window layers than layers"))
        if f["sliding_window_layers"] and not f["sliding_window"]:
            out.append(Problem(m.fact_where["sliding_window_layers"], f"/models/{m.id}/sliding_window_layers", "sliding_window_layers given without sliding_window"))
        if f["moe.num_experts"] and f["moe.experts_per_token"] > f["moe.num_experts"]:
            out.append(Problem(m.fact_where["moe.experts_per_token"], f"/models/{m.id}/moe/experts_per_token", "more experts per token than experts"))
        if f["moe.dense_layers"] > f["num_layers"]:
            out.append(Problem(m.fact_where["moe.dense_layers"], f"/models/{m.id}/moe/dense_layers", "more dense layers than layers"))
        if "dense" in f.get("group.mlp", ["dense"]) and not f["intermediate_size"]:
            out.append(Problem(m.location, f"/models/{m.id}", "a model with dense MLP layers needs intermediate_size"))
    for g in cat.kind("gpu").values():
        for fld in ("memory", "memory_reported"):
            if g.facts[fld] <= 0:
                out.append(Problem(g.fact_where[fld] or g.location, f"/gpus/{g.id}/{fld}", "memory must be positive"))
    return out
