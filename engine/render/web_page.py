"""`vramrules web`: the policy as one self-contained HTML page. The resolved catalog (models with
their Hub ids as aliases, GPUs, precisions, optimizers, LoRA targets, assumptions, each fact with
its file:line and source) goes in as JSON data (`<script type="application/json">`, read with
JSON.parse, never evaluated); the modes go in as JavaScript generated from the checked trees by
backends/javascript (one function per rule set, mode and with/without GPU). The page's own
script (APP below) resolves a scenario as evaluation/scenario.py does, runs the
mode's function, and draws the breakdown, verdict, provenance and inverse answers. No network:
no external script, style, font or image, and a Content-Security-Policy that forbids them."""
from __future__ import annotations

import html
import json

from ..backends.javascript import check_table, mode_js, runtime
from ..evaluation.explain import data_where
from ..version import __version__

# nothing but the page itself: no fetch, no external script, style, font or image
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "connect-src 'none'; form-action 'none'; base-uri 'none'")


def _plain(v):
    """A fact as JSON: floats (rules compute on floats), booleans, choices, per-group lists."""
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return None


def _entry(e) -> dict:
    raw = e.raw if isinstance(e.raw, dict) else {}
    facts = {k: p for k, v in e.facts.items() if (p := _plain(v)) is not None}
    where = {k: data_where(loc) for k, loc in e.fact_where.items() if loc is not None}
    out = {"name": e.name, "source": e.source, "where": data_where(e.location), "layer": e.layer, "facts": facts, "fact_where": where}
    aliases = [str(a) for a in raw.get("aliases") or []]
    hub = [str(h) for h in raw.get("hub") or []] if isinstance(raw.get("hub"), list) else []
    if aliases:
        out["aliases"] = aliases
    if hub:
        out["hub"] = hub
    for k in ("native_precision", "family", "note", "memory", "memory_reported"):
        if isinstance(raw.get(k), str):
            out[k] = raw[k]
    return out


def _spec(spec) -> dict:
    out = {k: getattr(spec, k) for k in ("decl", "dim", "choices", "minimum", "maximum", "default", "description", "option",
                                         "aliases", "switch", "cli") if getattr(spec, k, None) is not None}
    if getattr(spec, "names", None):
        out["names"] = dict(spec.names)  # an integer's named values (-ngl auto = -1, all = -2), as the CLI's HumanInt takes them
    if spec.decl == "quantity" and spec.default is not None:
        out["default"] = spec.coerce(spec.default)  # its value in base units ('0 B' -> 0): the page takes no quantity option
    if spec.decl == "numbers" and spec.dim and spec.default is not None:
        out["default"] = list(spec.coerce(spec.default))  # per-device quantities (--reserve '0 B' -> [0]), in base units
    if getattr(spec, "one_for_all", False):
        out["one_for_all"] = True
    return out


def _slot(slot) -> dict:
    return {k: getattr(slot, k) for k in ("selects", "prefix", "role", "default_from", "default", "native", "description", "option", "cli")
            if getattr(slot, k, None) is not None}


def _compiled(comp, rs, mode, table: dict) -> dict:
    """A compiled mode's order, leaves and parts; each rule's label, formula, file:line, doc,
    source, dimension and reads go once into `table` (modes share most rules), named by index."""
    from ..language.rules import TOTAL, report_names

    rules = {}
    for name in comp.order:
        if name == TOTAL:
            rules[name] = {"label": "total", "formula": " + ".join(comp.components), "where": "sum of the mode's components",
                           "dim": "[information]", "deps": list(comp.components)}
            continue
        r = comp.rules[name]
        rules[name] = {"label": r.label, "formula": " ".join(r.text.split()), "where": data_where(r.location), "doc": r.doc,
                       "source": r.source, "dim": comp.dims.get(name, ""), "deps": list(comp.deps.get(name, [])),
                       **({"per": r.per} if r.per else {})}
    for name, info in rules.items():
        rules[name] = table.setdefault(json.dumps(info, sort_keys=True), len(table))
    return {"ruleset": comp.ruleset, "mode": comp.mode, "order": list(comp.order), "leaves": list(comp.leaves),
            "components": list(comp.components), "optional": list(mode.optional), "warnings": list(comp.warnings),
            "constraints": list(comp.constraints), "host": list(comp.host), "report": report_names(rs, mode), "rules": rules}


def page_data(cat, data_label: str = "built-in data", sets=(), data_dirs=()) -> tuple[dict, list]:
    """(the JSON the page reads, [(key, JavaScript function source)]) for catalog `cat`."""
    from ..evaluation.evaluate import compiled_mode

    vocab = cat.vocabulary
    kinds = sorted({s.selects for s in vocab.slots.values()})
    catalog = {k: {eid: _entry(e) for eid, e in cat.kind(k).items()} for k in kinds}
    rulesets: dict = {}
    functions: list = []
    compiled: dict = {}
    table: dict = {}
    for rn, rs in cat.rulesets.items():
        modes = {}
        for mn, m in rs.modes.items():
            modes[mn] = {"summary": m.summary, "defaults": dict(m.defaults), "requires_gpu": m.requires_gpu, "role": m.role,
                         "components": list(m.components), "where": data_where(m.location)}
            for with_gpu in (False, True):
                if m.requires_gpu and not with_gpu:
                    continue
                comp = compiled_mode(cat, rn, mn, with_gpu)
                key = f"{rn}/{mn}/{'gpu' if with_gpu else 'none'}"
                compiled[key] = _compiled(comp, rs, m, table)
                functions.append((key, mode_js(comp)))
        rulesets[rn] = {"defaults": dict(rs.defaults), "modes": modes, "needs_architecture": rs.needs_architecture, "devices": rs.devices,
                        "search_defaults": dict(rs.search_defaults),
                        "where": data_where(rs.location), "summary": getattr(rs, "summary", "")}
    assumptions = {n: {"value": a.value, "text": a.text, "dim": a.dim, "where": data_where(a.location), "source": a.source,
                       "summary": str(a.raw.get("summary", "")) if isinstance(a.raw, dict) else "", "layer": a.layer}
                   for n, a in cat.assumptions.items()}
    types = {k: {f: t.dim for f, t in cat.types.get(k, {}).items()} for k in kinds}
    data = {"vramrules": __version__, "data": data_label, "sets": list(sets), "data_dirs": list(data_dirs),
            "vocabulary": {"inputs": {n: _spec(s) for n, s in vocab.inputs.items()},
                           "slots": {n: _slot(s) for n, s in vocab.slots.items()}},
            "rulesets": rulesets, "compiled": compiled, "rule_table": [json.loads(k) for k in table], "catalog": catalog, "types": types, "assumptions": assumptions,
            "overrides": {f"assume.{n}": {"value": now, "was": was} for n, (was, now) in cat.overrides.items()}}
    return data, functions


def _json_for_script(data) -> str:
    """JSON that cannot end its <script> element or open a comment there."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render(cat, data_label: str = "built-in data", sets=(), data_dirs=()) -> str:
    """The page for catalog `cat` (loaded with `data_dirs` and `sets`, which its CLI command repeats)."""
    check_table()
    data, functions = page_data(cat, data_label, sets, data_dirs)
    modes = ",\n".join(f"{json.dumps(k)}: {src}" for k, src in functions)  # keys: rule set/mode names; code: from the checked trees
    app, style = APP, STYLE
    title = f"vramrules calculator ({data_label})"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="vramrules {html.escape(__version__)}">
<title>{html.escape(title)}</title>
<style>
{style}
</style>
</head>
<body>
<noscript><p class="error">This calculator runs its rules as JavaScript in the page; enable scripts (nothing is fetched from the network).</p></noscript>
<div id="app"></div>
<script type="application/json" id="vramrules-data">{_json_for_script(data)}</script>
<script>
"use strict";
// generated by backends/javascript.py from the checked rules: one function per mode
{runtime()}
const MODES = {{
{modes}
}};
</script>
<script>
"use strict";
{app}
</script>
</body>
</html>
"""


STYLE = r""":root { --fg: #1d1d1f; --muted: #5b5b66; --line: #d0d0d8; --bg: #fafafc; --fit: #1b7f3b; --nofit: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; color: var(--fg); background: var(--bg); }
header, main, #assumptions { max-width: 1280px; margin: 0 auto; padding: 0 16px; }
header h1 { font-size: 1.4rem; margin: 16px 0 2px; }
main { display: grid; grid-template-columns: minmax(280px, 360px) 1fr; gap: 18px; align-items: start; }
@media (max-width: 820px) { main { grid-template-columns: 1fr; } }
fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px; padding: 6px 10px 8px; background: #fff; }
legend { font-weight: 600; padding: 0 4px; }
.field { display: grid; grid-template-columns: 9.5em 1fr; gap: 4px 8px; align-items: center; margin: 4px 0; }
.field input[type=range] { grid-column: 2; width: 100%; }
.field.wide { grid-template-columns: 1fr; }
.gpu-row { grid-template-columns: 2.6em 1fr 1em 4.5em; }
input, select, button { font: inherit; padding: 3px 5px; border: 1px solid #9a9aa6; border-radius: 4px; background: #fff; min-width: 0; max-width: 100%; }
input:focus-visible, select:focus-visible, button:focus-visible, tr.comp:focus-visible, a:focus-visible { outline: 3px solid #2f6fdd; outline-offset: 1px; }
button { cursor: pointer; background: #eef1f8; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin-bottom: 12px; }
h2 { font-size: 1.15rem; margin: 4px 0 8px; } h3 { font-size: 1rem; margin: 10px 0 4px; }
#verdict.fits { color: var(--fit); } #verdict.nofit { color: var(--nofit); }
.error { color: var(--nofit); font-weight: 600; }
.error:empty { display: none; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart .seg { cursor: pointer; }
.legend { list-style: none; padding: 0; margin: 4px 0 8px; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.9rem; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
caption { text-align: left; color: var(--muted); font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ececf1; padding: 3px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.comp { cursor: pointer; } tr.comp:hover { background: #f3f5fb; } tr.total td { font-weight: 600; border-top: 2px solid #999; }
dl.figures { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.figures dd { margin: 0; font-variant-numeric: tabular-nums; }
.cli { display: flex; gap: 8px; align-items: flex-start; margin-top: 8px; }
.cli code { background: #f1f1f5; padding: 4px 6px; border-radius: 4px; overflow-wrap: anywhere; font-size: 0.85rem; }
.small { color: var(--muted); font-size: 0.85rem; overflow-wrap: anywhere; }
code.formula { overflow-wrap: anywhere; }
#assumptions { margin-bottom: 24px; }
#warnings:empty { display: none; }
"""

# The page's own script: the scenario resolver (evaluation/scenario.py), the checks of
# backends/compiler.run, the inverse searches (questions/fit.py) and the views; it calls the
# generated MODES and reads the data with JSON.parse.
APP = r"""// ---------------------------------------------------------------- the data, read (never evaluated)
const D = JSON.parse(document.getElementById("vramrules-data").textContent);
const V = D.vocabulary;
for (const [kind, entries] of Object.entries(D.catalog)) for (const [id, e] of Object.entries(entries)) { e.id = id; e.kind = kind; }
for (const comp of Object.values(D.compiled)) for (const [n, i] of Object.entries(comp.rules)) comp.rules[n] = D.rule_table[i];
const UNITS = {B: 1, KiB: 1024, MiB: 1048576, GiB: 1073741824, TiB: 1099511627776, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12};
const MAX_GPUS = 4096, MAX_PROBES = 50, LIMITS = {seq_len: 1 << 24, batch: 1 << 20};
const LAYOUT = ["tp", "pp", "dp"], AXES = ["tp", "cp", "pp", "dp"];
const SLOT_OF_ROLE = {};
for (const [n, s] of Object.entries(V.slots)) if (s.role) SLOT_OF_ROLE[s.role] = n;
const SELECTIONS = Object.entries(V.slots).filter(([, s]) => !s.role);

class UsageError extends Error { constructor(message, hint) { super(message); this.hint = hint || ""; this.exit = 2; } }
class EvaluationError extends Error { constructor(message, where, hint) { super(message); this.where = where || ""; this.hint = hint || ""; this.exit = 1; } }

// ---------------------------------------------------------------- words (as the CLI reads them)
const MULT = {"": 1, k: 1e3, m: 1e6, g: 1e9, K: 1024, M: 1048576, G: 1073741824};
function humanInt(text, option, names) {  // commands/scenario_options.py HumanInt: named values, a sign (-ngl -2), 32k / 32K
  if (typeof text === "number") { if (Number.isInteger(text)) return text; throw new UsageError(`${option} ${text} is not a whole number`, "32768, 32k = 32,000, 32K = 32,768"); }
  const named = String(text).trim().toLowerCase();
  if (names && Object.prototype.hasOwnProperty.call(names, named)) return names[named];
  const m = String(text).length <= 40 ? /^\s*(-?\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$/.exec(String(text)) : null;
  if (m) {
    const n = parseFloat(m[1]) * MULT[m[2]];
    if (n > 1e15) throw new UsageError(`${option} ${String(text).slice(0, 20)} is unreasonably large`);
    if (n === Math.floor(n)) return n;
  }
  throw new UsageError(`${option} '${String(text).slice(0, 40)}' is not a whole number`, "write 32768, 32k (= 32,000) or 32K (= 32,768)");
}
function g(x) { return Number.isInteger(x) ? String(x) : String(+x.toPrecision(6)); }
function coerce(spec, value, spelled) {
  if (spec.decl === "quantity" && !spelled && typeof value === "number") return value;  // a default, in base units (_spec)
  if (spec.decl === "numbers" && spec.dim) {  // per-device quantities (--reserve 1.5GiB,0): the default only, in base units (_spec)
    if (!spelled && Array.isArray(value)) return value;
    throw new UsageError(`${spelled || spec.option}: a quantity input is not offered by this page`, "use the CLI: vramrules eval " + (spelled || spec.option) + " '1.5GiB,0'");
  }
  spelled = spelled || spec.option;
  if (spec.decl === "integer" || spec.decl === "number") {
    if (typeof value !== "number") throw new UsageError(`${spelled} must be a number, got ${JSON.stringify(value)}`);
    if (!Number.isFinite(value)) throw new UsageError(`${spelled} must be a finite number, got ${value}`);
    const what = spec.decl === "integer" ? "a whole number" : "a number";
    const bad = (spec.decl === "integer" && value !== Math.trunc(value)) || (spec.minimum != null && value < spec.minimum) || (spec.maximum != null && value > spec.maximum);
    if (bad) {
      if (spec.minimum != null && spec.maximum != null) throw new UsageError(`${spelled} must be ${what} from ${g(spec.minimum)} to ${g(spec.maximum)}, got ${g(value)}`);
      if (spec.maximum != null) throw new UsageError(`${spelled} must be ${what} <= ${g(spec.maximum)}, got ${g(value)}`);
      if (spec.minimum != null) throw new UsageError(`${spelled} must be ${what} >= ${g(spec.minimum)}, got ${g(value)}`);
      throw new UsageError(`${spelled} must be ${what}, got ${g(value)}`);
    }
    if (value > 1e15) throw new UsageError(`${spelled} ${g(value)} is unreasonably large`);
    return value;
  }
  if (spec.decl === "boolean") {
    if (typeof value !== "boolean") throw new UsageError(`${spelled} must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }
  if (spec.decl === "choice") {
    if (!spec.choices.includes(value)) throw new UsageError(`${spelled} must be one of ${spec.choices.join(", ")}, got '${value}'`);
    return value;
  }
  if (spec.decl === "numbers") {  // one number per GPU: '3,1' (or 3/1), a list, or one number (vocabulary.Input._numbers)
    const items = typeof value === "string" ? (value.trim() ? value.split(/[,/]/).map(p => p.trim()) : []) : Array.isArray(value) ? value : [value];
    return items.map(x => {
      const v = typeof x === "string" && x !== "" ? Number(x) : x;
      if (typeof v !== "number" || !Number.isFinite(v)) throw new UsageError(`${spelled} takes numbers separated by commas (3,1), got ${JSON.stringify(value)}`);
      if (spec.minimum != null && v < spec.minimum) throw new UsageError(`${spelled} must be a list of numbers each >= ${g(spec.minimum)}, got ${g(v)}`);
      return v;
    });
  }
  throw new UsageError(`${spelled}: a quantity input is not offered by this page`, "use the CLI: vramrules eval " + spelled + " '64 GiB'");
}
function norm(t) { return String(t).toLowerCase().replace(/[^a-z0-9]+/g, ""); }
function spellings(e) {
  const words = [e.id, e.name, ...(e.aliases || [])];
  const out = new Set();
  for (const w of words) { if (!w) continue; out.add(norm(w)); out.add(norm(String(w).toLowerCase().replace(/\b(nvidia|geforce|amd|radeon|instinct|intel|apple)\b/g, " "))); }
  out.delete("");
  return out;
}
function closest(text, ids) {
  const t = norm(text);
  return ids.map(id => [id, editDistance(t, norm(id))]).sort((a, b) => a[1] - b[1]).slice(0, 3).map(x => x[0]);
}
function editDistance(a, b) {
  const d = Array.from({length: a.length + 1}, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++)
    d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}
const KIND_WORD = {lora_targets: "lora-target"};
function find(kind, text) {
  const entries = D.catalog[kind] || {};
  if (typeof text !== "string") throw new UsageError(`no ${KIND_WORD[kind] || kind} given`);
  if (Object.prototype.hasOwnProperty.call(entries, text)) return entries[text];
  const low = text.toLowerCase();
  const all = Object.values(entries);
  if (text.includes("/")) { const hit = all.filter(e => (e.hub || []).some(h => h.toLowerCase() === low)); if (hit.length === 1) return hit[0]; }
  const byName = all.filter(e => (e.hub || []).some(h => h.split("/").pop().toLowerCase() === low));
  if (byName.length === 1) return byName[0];
  const want = norm(text);
  if (want) {
    const hits = all.filter(e => spellings(e).has(want));
    if (hits.length === 1) return hits[0];
    const tails = all.filter(e => [...spellings(e)].some(s => s.endsWith(want)));
    if (tails.length === 1) return tails[0];
    if (tails.length > 1) throw new UsageError(`'${text}' could be any of ${tails.map(e => e.id).join(", ")}`, "give the full id");
  }
  throw new UsageError(`unknown ${KIND_WORD[kind] || kind} '${text}'`, `did you mean ${closest(text, Object.keys(entries)).join(", ")}? (vramrules list ${(KIND_WORD[kind] || kind)}s)`);
}

// ---------------------------------------------------------------- a scenario, resolved (evaluation/scenario.py)
function placement(text, ordered) {
  const out = new Map(), each = [];
  for (const part of text.replace(/,/g, "+").split("+").map(p => p.trim())) {
    let n = 1, ident = part;
    const i = part.indexOf("x");
    if (i > 0 && /^\d+$/.test(part.slice(0, i)) && part.length > i + 1) { n = parseInt(part.slice(0, i), 10); ident = part.slice(i + 1); }
    if (!part || n < 1) throw new UsageError(`--gpu '${text}': write GPU ids joined by '+', each optionally prefixed by a count (2xrtx-3090+rtx-4090)`);
    const entry = find("gpu", ident);
    const prev = out.get(entry.id);
    out.set(entry.id, {entry, count: (prev ? prev.count : 0) + n});
    for (let k = 0; k < n; k++) each.push({entry, count: 1});
  }
  return ordered && each.length > 1 ? each : [...out.values()];  // ordered: one device per GPU (rule sets with devices: each)
}
function layout(inputs, origin) {
  if (inputs.cp === undefined) inputs.cp = 1;
  const given = new Set(AXES.filter(a => origin[a] === "option"));
  if (origin.gpus !== "option") { inputs.gpus = inputs.tp * inputs.cp * inputs.pp * inputs.dp; origin.gpus = inputs.cp === 1 ? "tp x pp x dp" : "tp x cp x pp x dp"; return; }
  if (["tp", "pp", "dp"].every(a => given.has(a))) return;
  const axis = !given.has(inputs.split) ? inputs.split : ["dp", "tp", "pp"].find(a => !given.has(a));
  let rest = 1;
  for (const a of AXES) if (a !== axis) rest *= inputs[a];
  if (inputs.gpus % rest) throw new UsageError(`--gpus ${g(inputs.gpus)} is not a multiple of ${AXES.filter(a => a !== axis).map(a => `${a} ${g(inputs[a])}`).join(" x ")}`);
  inputs[axis] = inputs.gpus / rest;
  origin[axis] = `from --gpus (split over ${axis})`;
}
function resolve(sc) {
  const rules = sc.rules || "default", modeName = sc.mode || "inference";
  const rs = D.rulesets[rules];
  if (!rs) throw new UsageError(`unknown rule set '${rules}'`, `one of ${Object.keys(D.rulesets).join(", ")}`);
  const m = rs.modes[modeName];
  if (!m) throw new UsageError(`unknown mode '${modeName}' of rule set '${rules}'`, `one of ${Object.keys(rs.modes).join(", ")}`);
  let options = {};
  for (const [k, v] of Object.entries(sc.options || {})) if (v !== null && v !== undefined && v !== "") options[k] = v;
  const each = rs.devices === "each";  // llama.cpp: one device per GPU, in the order given (scenario.resolve)
  let devices = sc.gpu ? placement(sc.gpu, each) : [];
  if (devices.length > 1 || (devices.length && devices[0].count !== 1)) {
    const total = devices.reduce((s, d) => s + d.count, 0);
    if (options.gpus != null && options.gpus !== total) throw new UsageError(`--gpu ${sc.gpu} places the workload on ${total} GPUs, but --gpus says ${g(options.gpus)}`);
    options = {...options, gpus: total};
  }
  if (sc.model == null || sc.model === "") throw new UsageError("no model given", "pick one in the Model box (vramrules list models)");
  const model = find("model", sc.model);
  const gpu = devices.length ? devices[0].entry : null;
  const values = {}, origin = {};
  for (const [n, s] of Object.entries(V.inputs)) if (s.default != null) { values[n] = s.default; origin[n] = "vocabulary default"; }
  for (const [n, s] of SELECTIONS) if (s.default != null) { values[n] = s.default; origin[n] = "vocabulary default"; }
  for (const [layerName, layer] of [["rule set default", rs.defaults], ["mode default", m.defaults], ["option", options]]) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === null || v === undefined) continue;
      if (!(k in V.inputs) && !SELECTIONS.some(([n]) => n === k)) throw new UsageError(`unknown scenario option '${k}'`);
      values[k] = v; origin[k] = layerName;
    }
  }
  const selections = {};
  for (const [sn, slot] of SELECTIONS) {
    if (!(sn in values) && slot.default_from != null) continue;
    if (!(sn in values)) throw new UsageError(`rule set '${rules}' mode '${modeName}' gives no default for '${sn}'; pass ${slot.option}`);
    let value = values[sn];
    if (slot.native && value === "native") {
      value = values[sn] = model.native_precision || "bf16";
      origin[sn] += " (the model's native precision)";
      if ((model.facts.checkpoint_bytes || 0) > 0 && "checkpoint_weights" in V.inputs) { values.checkpoint_weights = true; origin.checkpoint_weights = "the checkpoint's stored bytes"; }
    }
    selections[sn] = slot.selects === "engine" ? find("engine", String(value).split("@")[0]) : find(slot.selects, value);
  }
  for (const [sn, slot] of SELECTIONS) {
    if (sn in selections) continue;
    const src = V.slots[slot.default_from];
    const follows = selections[slot.default_from] || (src.role === "model" ? model : gpu);
    if (!follows) throw new UsageError(`${slot.option} follows ${src.option}, which is not given`);
    selections[sn] = follows; origin[sn] = `same as ${src.option}`;
  }
  const inputs = {};
  for (const [n, spec] of Object.entries(V.inputs)) {
    if (!(n in values)) throw new UsageError(`rule set '${rules}' mode '${modeName}' gives no default for '${n}'`);
    inputs[n] = coerce(spec, values[n], origin[n] === "option" ? spec.option : null);
  }
  layout(inputs, origin);
  if (each && devices.length === 1 && inputs.gpus > 1) devices = Array.from({length: inputs.gpus}, () => ({entry: gpu, count: 1}));
  for (const [n, spec] of Object.entries(V.inputs)) {  // a per-device input gives at most one value per GPU
    if (spec.decl !== "numbers" || inputs[n].length <= devices.length || !inputs[n].slice(devices.length).some(x => x)) continue;
    throw new UsageError(`${spec.option} gives ${inputs[n].length} values for ` + (sc.gpu ? `the ${devices.length} GPU${devices.length !== 1 ? "s" : ""} of --gpu ${sc.gpu}` : "no GPU (give --gpu)") + " (give one value per GPU, in the order of --gpu)");
  }
  const bySlot = {[SLOT_OF_ROLE.model]: model, [SLOT_OF_ROLE.gpu]: gpu, ...selections};
  const byPrefix = {};
  for (const [n, s] of Object.entries(V.slots)) byPrefix[s.prefix || n] = bySlot[n];
  return {rules, mode: modeName, model, gpu, devices: devices.length ? devices.map(d => ({entry: d.entry, count: devices.length > 1 ? d.count : null})) : [],
          mixed: devices.length > 1, placementText: devices.length > 1 ? devices.map(d => d.count !== 1 ? `${d.count}x${d.entry.id}` : d.entry.id).join("+") : (gpu ? gpu.id : ""),
          selections, inputs, origin, byPrefix};
}
function factsOf(r, leaves) {
  const out = {};
  for (const leaf of leaves) {
    const dot = leaf.indexOf("."), head = leaf.slice(0, dot), rest = leaf.slice(dot + 1);
    if (head === "input") out[leaf] = r.inputs[rest];
    else if (head === "assume") out[leaf] = D.assumptions[rest].value;
    else if (head === "group") out[leaf] = r.model.facts[leaf];
    else if (head === "device") out[leaf] = rest === "count" ? r.devices.map(d => d.count !== null ? d.count : r.inputs.gpus)
      : rest in r.inputs ? r.devices.map((d, k) => (r.inputs[rest].length === 1 && V.inputs[rest].one_for_all) ? r.inputs[rest][0]  // one value: every GPU's
                                                   : k < r.inputs[rest].length ? r.inputs[rest][k] : 0)  // a per-device input
      : r.devices.map(d => d.entry.facts[rest]);
    else out[leaf] = r.byPrefix[head].facts[rest];
  }
  return out;
}

// ---------------------------------------------------------------- one evaluation (evaluation/evaluate.py, backends/compiler.run)
function modeKey(r) { return `${r.rules}/${r.mode}/${r.gpu ? "gpu" : "none"}`; }
function evaluate(sc) {
  const r = resolve(sc);
  const m = D.rulesets[r.rules].modes[r.mode];
  if (!r.gpu && m.requires_gpu) throw new UsageError(`mode '${r.mode}' needs --gpu NAME (its rules read the GPU's capacity)`, "pick a GPU");
  const key = modeKey(r), comp = D.compiled[key], fn = MODES[key];
  if (r.mixed) {
    const reads = comp.leaves.filter(n => n.startsWith("gpu.")).sort();
    if (reads.length) throw new UsageError(`--gpu ${r.placementText} places the workload on GPUs of several types, but rule set '${r.rules}' mode '${r.mode}' reads ${reads[0]}, a fact of one GPU`);
  }
  const facts = factsOf(r, comp.leaves);
  let list;
  try { list = fn(facts); } catch (e) {
    if (!(e instanceof RuleFailure)) throw e;
    const rule = comp.rules[e.rule];
    throw new EvaluationError(`rule '${e.rule}' failed: ${e.message}`, rule ? rule.where : "", "check the inputs this rule divides by or raises to a power");
  }
  const values = {};
  comp.order.forEach((n, i) => { values[n] = list[i]; });
  for (const n of comp.order) {
    const v = values[n];
    const bad = Array.isArray(v) ? v.find(x => typeof x === "number" && !Number.isFinite(x)) : (typeof v === "number" && !Number.isFinite(v) ? v : undefined);
    if (bad !== undefined) throw new EvaluationError(`rule '${n}' gave ${bad} (not a finite number)`, comp.rules[n].where, "check for overflow in its inputs");
  }
  for (const c of comp.components) if (values[c] < 0) throw new EvaluationError(`component '${c}' is negative (${values[c]} B)`, comp.rules[c].where, "a memory component can never be negative; check the rule");
  const broken = comp.constraints.filter(c => !values[c]).map(c => message(comp, c, r, facts, values));
  if (broken.length) throw new UsageError(broken.join("; "));
  const total = values.total;
  const components = comp.components.filter(c => !(comp.optional.includes(c) && values[c] === 0))
    .map(c => ({name: c, label: comp.rules[c].label, bytes: values[c], share: total ? values[c] / total : 0}));
  let fit = null;
  if (r.gpu) {
    const fits = Boolean(values.fits);
    fit = {placement: r.placementText, gpu_name: r.devices.map(d => d.entry.name).join(" + "), gpus: r.inputs.gpus,
           usable_per_gpu: values.usable_memory_per_gpu, capacity_marketed: Math.min(...r.devices.map(d => d.entry.facts.memory)),
           needed_per_gpu: values.per_gpu_total, headroom_per_gpu: values.headroom, fits, usable_per_device: values.usable_per_device || null};
  }
  const warnings = comp.warnings.filter(w => values[w]).map(w => message(comp, w, r, facts, values)).concat(notApplied(r, comp));
  const host = comp.host.map(h => ({name: h, label: comp.rules[h].label, bytes: values[h]}));
  return {scenario: r, compiled: comp, facts, values, total, components, fit, warnings, host};
}
function notApplied(r, comp) {
  const leaves = new Set(comp.leaves), heads = new Set(comp.leaves.map(l => l.split(".")[0])), out = [];
  for (const [name, origin] of Object.entries(r.origin)) {
    if (origin !== "option" || ["gpus", "tp", "pp", "dp"].includes(name)) continue;
    const spec = V.inputs[name] || V.slots[name];
    if (!spec || spec.role) continue;
    const read = name in V.inputs ? leaves.has(`input.${name}`) : heads.has(spec.prefix || name);
    if (!read) out.push(`${spec.option} does not apply to mode '${r.mode}' of rule set '${r.rules}': none of its rules reads it`);
  }
  return out;
}
function message(comp, name, r, facts, values) {
  let text = comp.rules[name].label;
  for (const n of comp.rules[name].deps) {
    // as evaluate._message: a value, else a fact (a dotted name that is not a rule); a rule not computed stays as written
    const v = n in values ? values[n] : (n in facts ? facts[n] : (n.includes(".") && !(n in comp.rules) ? factsOf(r, [n])[n] : undefined));
    if (v !== undefined) text = text.split("{" + n + "}").join(shownValue(v, dimOf(comp, n)));
  }
  return text;
}

// ---------------------------------------------------------------- inverse answers (questions/fit.py)
function searchOptions(sc) {  // questions/fit.py with_search_defaults: the rule set's search_defaults (llamacpp: -ngl all) unless given
  const given = sc.options || {}, held = (D.rulesets[sc.rules || "default"] || {}).search_defaults || {};
  const out = {};
  for (const [k, v] of Object.entries(held)) if (given[k] === null || given[k] === undefined || given[k] === "") out[k] = v;
  for (const [k, v] of Object.entries(given)) if (v !== null && v !== undefined && v !== "") out[k] = v;
  return out;
}
function makeSearch(sc) {
  const devices = placement(sc.gpu);
  const model = find("model", sc.model).id;
  const base = {};
  for (const [k, v] of Object.entries(sc.options || {})) if (v !== null && v !== undefined && v !== "") base[k] = v;
  const probes = [];
  return {devices, model, base, probes, mode: sc.mode, probe(options) {
    if (probes.length >= MAX_PROBES) throw new UsageError(`search gave up after ${MAX_PROBES} evaluations`);
    let p;
    try {
      const res = evaluate({rules: sc.rules, mode: this.mode, model, gpu: sc.gpu, options: {...this.base, ...options}});
      const i = res.scenario.inputs;
      p = {options, fits: res.fit.fits, per_gpu: res.fit.needed_per_gpu, capacity: res.fit.usable_per_gpu,
           layout: {gpus: res.fit.gpus, tp: i.tp, pp: i.pp, dp: i.dp}};
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      p = {options, fits: null, error: e.message};
    }
    probes.push(p);
    return p;
  }};
}
function tpSizes(facts, limit = 64) {
  const heads = Math.trunc(facts.num_attention_heads || 0), kv = Math.trunc(facts.num_kv_heads || 0), mla = (facts["mla.kv_lora_rank"] || 0) > 0;
  const out = [];
  for (let t = 1; t <= limit; t *= 2) if (heads === 0 || (heads % t === 0 && (mla || kv % t === 0 || t % kv === 0))) out.push(t);
  return out;
}
function firstFitting(search, cands) {  // questions/fit.py _first_fitting: a bisection guided by a + b/n
  if (!cands.length) return [null, null];
  let lo = 0, hi = cands.length - 1;
  const last = search.probe(cands[hi]);
  if (!last.fits) return [null, null];
  let best = [hi, last];
  const seen = [[cands[hi].gpus, last.per_gpu, last.capacity]];
  let halve = true;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const i = halve ? mid : guessOf(cands, seen, lo, hi);
    const width = hi - lo;
    const p = search.probe(cands[i]);
    if (p.fits) { hi = i; best = [i, p]; } else lo = i + 1;
    if (p.fits !== null && p.per_gpu > 0) seen.push([cands[i].gpus, p.per_gpu, p.capacity]);
    halve = !halve && 2 * (hi - lo) > width;
  }
  return best;
}
function guessOf(cands, seen, lo, hi) {
  const mid = Math.floor((lo + hi) / 2);
  const cap = seen[seen.length - 1][2];
  if (seen.length < 2 || !(cap > 0)) return mid;
  const [[n0, m0], [n1, m1]] = seen.slice().sort((x, y) => Math.abs(x[1] - cap) - Math.abs(y[1] - cap));
  if (n0 === n1 || m0 === m1) return mid;
  const b = (m0 - m1) / (1 / n0 - 1 / n1), a = m0 - b / n0;
  if (b <= 0 || cap <= a) return mid;
  const want = b / (cap - a);
  for (let i = lo; i < hi; i++) if (cands[i].gpus >= want) return i;
  return hi - 1;
}
function layoutsOf(family, cp) {
  const out = [], seen = new Set();
  for (let c of family) {
    c = {...c}; c.gpus = c.tp * (cp || 1) * c.pp * c.dp;
    const key = JSON.stringify(Object.keys(c).sort().map(k => [k, c[k]]));
    if (!seen.has(key) && c.gpus <= MAX_GPUS) { seen.add(key); out.push(c); }
  }
  return out;
}
function minGpus(sc) {
  const base = searchOptions(sc);
  for (const k of ["gpus", ...LAYOUT]) delete base[k];
  const search = makeSearch({...sc, options: base});
  if (search.devices.length > 1 || search.devices[0].count !== 1) return {value: null, note: "the fewest GPUs is a question about one GPU type"};
  const facts = find("model", sc.model).facts;
  const m = D.rulesets[sc.rules || "default"].modes[sc.mode || "inference"];
  const inference = m.role ? ["inference", "serve"].includes(m.role) : m.defaults.split === "tp";
  const tps = tpSizes(facts);
  const small = tps.filter(t => t <= 8);
  const tmax = small.length ? Math.max(...small) : 1;
  const sharding = (inference || search.base.zero || search.base.fsdp) ? {} : {zero: 3};
  const families = [];
  if (inference) {
    const layers = Math.trunc(facts.num_layers || 0) || 64;
    families.push(tps.map(t => ({tp: t, pp: 1, dp: 1, ...sharding})));
    const f2 = []; for (let k = 2; k <= layers; k++) f2.push({tp: tmax, pp: k, dp: 1, ...sharding});
    families.push(f2);
  } else {
    const sizes = []; for (let n = 1; n <= 64; n++) sizes.push(n); for (let k = 7; k <= 12; k++) sizes.push(2 ** k);
    families.push(sizes.map(n => ({dp: n, tp: 1, pp: 1, ...sharding})));
    if (tmax > 1) families.push(sizes.map(n => ({tp: tmax, dp: n, pp: 1, ...sharding})));
  }
  let best = null;
  const searched = [];
  for (const fam of families.map(f => layoutsOf(f, base.cp))) {
    const key = JSON.stringify(fam);
    if (searched.includes(key) || (best !== null && fam.length && fam[0].gpus >= best[0].gpus)) continue;
    searched.push(key);
    const [idx, p] = firstFitting(search, fam);
    if (p !== null && idx !== null && (best === null || fam[idx].gpus < best[0].gpus)) best = [fam[idx], p];
  }
  if (best === null) return {value: null, probes: search.probes.length, note: `nothing up to ${MAX_GPUS} GPUs fits with this layout policy`};
  return {value: best[0].gpus, options: best[0], layout: best[1].layout, probes: search.probes.length};
}
function maxValue(sc, name) {
  const base = searchOptions(sc);
  delete base[name];
  const search = makeSearch({...sc, options: base});
  const one = {[name]: 1};
  const loP = search.probe(one);
  if (loP.error) throw new UsageError(loP.error);
  if (!loP.fits) return {value: null, note: `even ${name} = 1 does not fit`, probes: search.probes.length};
  const cap = LIMITS[name];
  const x2 = Math.min(1024, cap);
  const p2 = search.probe({[name]: x2});
  let lo = 1, hi = null;
  if (p2.fits) lo = x2; else hi = x2;
  const slope = (p2.per_gpu - loP.per_gpu) / (x2 - 1);
  const within = (answer) => {
    const ctx = name === "seq_len" ? (find("model", sc.model).facts.max_context || 0) : 0;
    if (ctx && answer.value !== null && answer.value > ctx) return {...answer, value: Math.trunc(ctx), note: `the model's context is ${Math.trunc(ctx).toLocaleString("en-US")} tokens; memory alone would allow ${answer.value.toLocaleString("en-US")}`};
    return answer;
  };
  if (slope > 0) {
    const guess = Math.trunc(1 + (loP.capacity - loP.per_gpu) / slope);
    for (let gg of [guess, guess + 1]) {
      gg = Math.max(1, Math.min(gg, cap));
      if ((hi !== null && gg >= hi) || gg <= lo) continue;
      if (search.probe({[name]: gg}).fits) lo = gg; else hi = gg;
    }
  }
  if (hi === null) {
    let x = Math.max(lo * 2, 2);
    while (x <= cap) { if (search.probe({[name]: x}).fits) { lo = x; x *= 2; } else { hi = x; break; } }
    if (hi === null) {
      if (search.probe({[name]: cap}).fits) return within({value: cap, note: `fits up to the search limit ${cap}`, probes: search.probes.length});
      hi = cap;
    }
  }
  while (hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (search.probe({[name]: mid}).fits) lo = mid; else hi = mid; }
  return within({value: lo, probes: search.probes.length});
}

// ---------------------------------------------------------------- provenance (evaluation/explain.py)
function dimOf(comp, n) {
  if (comp.rules[n]) return comp.rules[n].dim;
  const dot = n.indexOf("."), head = n.slice(0, dot), rest = n.slice(dot + 1);
  if (head === "assume") return (D.assumptions[rest] || {}).dim || "";
  if (head === "input") return (V.inputs[rest] || {}).dim || "";
  if (head === "device" || head === "group") return ((D.types[head === "device" ? "gpu" : "model"] || {})[head === "group" ? n : rest]) || "";
  const slot = Object.entries(V.slots).find(([sn, s]) => (s.prefix || sn) === head);
  return slot ? ((D.types[slot[1].selects] || {})[rest] || "") : "";
}
function describe(res, n) {
  const r = res.scenario, comp = res.compiled;
  if (comp.rules[n]) return {name: n, value: res.values[n], dim: comp.rules[n].dim, where: "rule", rule: true};
  const dot = n.indexOf("."), head = n.slice(0, dot), rest = n.slice(dot + 1);
  const value = factsOf(r, [n])[n], dim = dimOf(comp, n);
  if (head === "input") return {name: n, value, dim, where: r.origin[rest] || "default", source: ""};
  if (head === "assume") { const a = D.assumptions[rest]; return {name: n, value, dim, where: a.where, source: a.source}; }
  if (head === "group") { const w = r.model.fact_where[n]; return {name: n, value, dim, where: w || "derived from num_layers, sliding_window(_layers) and moe.dense_layers (catalog.layer_groups)", source: w ? r.model.source : "", entry: r.model.id}; }
  if (head === "device") {
    if (rest === "count") return {name: n, value, dim, where: "--gpu and --gpus (the placement)", source: "", entry: r.placementText};
    const wheres = [...new Set(r.devices.map(d => d.entry.fact_where[rest] || "schema default (schemas/gpus)"))].sort();
    return {name: n, value, dim, where: wheres.join("; "), source: [...new Set(r.devices.map(d => d.entry.source))].sort().join("; "), entry: r.placementText};
  }
  const e = r.byPrefix[head];
  const w = e.fact_where[rest];
  return {name: n, value, dim, where: w || `schema default (schemas/${e.kind}s)`, source: w ? e.source : "", entry: e.id};
}

// ---------------------------------------------------------------- numbers for people
const WHOLE = new Intl.NumberFormat("en-US", {maximumFractionDigits: 0}), TWO = new Intl.NumberFormat("en-US", {minimumFractionDigits: 2, maximumFractionDigits: 2});
function commas(x) { return WHOLE.format(x); }
function mem(bytes, unit) { return `${TWO.format(bytes / UNITS[unit])} ${unit}`; }
function autoMem(b, binary = true) {
  const steps = binary ? ["TiB", "GiB", "MiB", "KiB"] : ["TB", "GB", "MB", "KB"];
  for (const u of steps) if (Math.abs(b) >= UNITS[u]) return mem(b, u);
  return `${commas(b)} B`;
}
function shownValue(v, dim) {
  if (Array.isArray(v)) return "[" + v.map(x => shownValue(x, dim)).join(", ") + "]";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "string") return v;
  if (dim === "[information]") { const b = Math.abs(v) < 1024 && v !== Math.trunc(v) ? v : Math.ceil(v); const s = autoMem(b); return s.endsWith(" B") ? s : `${s} (${commas(b)} B)`; }
  if (dim === "[information] / [time]") return `${(v / 1e12).toFixed(3)} TB/s`;
  return Number.isInteger(v) ? commas(v) : String(+v.toPrecision(6));
}

// ---------------------------------------------------------------- the page
const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
const $ = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) { if (v === null || v === undefined || v === false) continue; if (k === "text") el.textContent = v; else el.setAttribute(k, v === true ? "" : v); }
  for (const k of kids) el.append(k);
  return el;
};
const SVG = (tag, attrs = {}) => { const el = document.createElementNS("http://www.w3.org/2000/svg", tag); for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v); return el; };
const state = {rules: "default", mode: "inference", model: "", gpu: "", units: "GiB", options: {}};
let selected = null, last = null;
const GROUPS = [["Workload", ["seq_len", "batch", "precision", "kv_precision", "compute_precision"]],
                ["Training and LoRA", ["optimizer", "lora_rank", "lora_targets", "adapter_precision", "recompute", "master_weights", "dropout"]],
                ["Parallel layout", ["gpus", "tp", "cp", "pp", "dp", "ep", "zero", "fsdp", "shard_group", "sequence_parallel", "offload"]]];

function defaultsFor() {
  const rs = D.rulesets[state.rules], m = rs.modes[state.mode] || {defaults: {}};
  const out = {};
  for (const [n, s] of Object.entries(V.inputs)) if (s.default != null) out[n] = s.default;
  return Object.assign(out, rs.defaults, m.defaults);
}
function optionControl(name) {
  const spec = V.inputs[name], slot = V.slots[name];
  const id = "opt-" + name;
  const label = $("label", {for: id, title: (spec || slot).description || ""}, (spec || slot).option || name);
  let input;
  if (slot) {
    input = $("select", {id, "data-opt": name});
    input.append($("option", {value: "", text: "rules' default"}));
    if (slot.native) input.append($("option", {value: "native", text: "native (the checkpoint's)"}));
    for (const [eid, e] of Object.entries(D.catalog[slot.selects] || {})) input.append($("option", {value: eid, text: eid === e.name ? eid : `${eid} — ${e.name}`}));
  } else if (spec.decl === "boolean") {
    input = $("select", {id, "data-opt": name}, $("option", {value: "", text: "rules' default"}), $("option", {value: "true", text: "yes"}), $("option", {value: "false", text: "no"}));
  } else if (spec.decl === "choice") {
    input = $("select", {id, "data-opt": name}, $("option", {value: "", text: "rules' default"}));
    for (const c of spec.choices) input.append($("option", {value: c, text: c}));
  } else {
    input = $("input", {id, "data-opt": name, type: "text", inputmode: "text", autocomplete: "off", size: 9});
  }
  const wrap = $("div", {class: "field"}, label, input);
  if (name === "seq_len" || name === "batch") {
    const range = $("input", {type: "range", id: id + "-range", min: 0, max: name === "seq_len" ? 24 : 12, step: 1, "aria-label": `${name} (powers of two)`});
    range.addEventListener("input", () => { const n = 2 ** range.value; input.value = n >= 1024 && n % 1024 === 0 ? `${n / 1024}K` : String(n); onChange(); });
    wrap.append(range);
  }
  input.addEventListener(input.tagName === "SELECT" ? "change" : "input", onChange);
  return wrap;
}
function build() {
  const app = document.getElementById("app");
  const controls = $("form", {id: "controls", "aria-label": "scenario"});
  controls.addEventListener("submit", e => e.preventDefault());
  const models = $("datalist", {id: "model-list"});
  for (const [id, e] of Object.entries(D.catalog.model)) models.append($("option", {value: id, label: [e.name, ...(e.hub || [])].join(" · ")}));
  const head = $("fieldset", {}, $("legend", {text: "Scenario"}),
    $("div", {class: "field wide"}, $("label", {for: "model", text: "Model (id, name or Hub id)"}), $("input", {id: "model", list: "model-list", autocomplete: "off", spellcheck: "false"}), models),
    $("div", {class: "field"}, $("label", {for: "rules", text: "Rule set"}), $("select", {id: "rules"})),
    $("div", {class: "field"}, $("label", {for: "mode", text: "Mode"}), $("select", {id: "mode"})),
    $("div", {class: "field"}, $("label", {for: "units", text: "Units"}), $("select", {id: "units"}, ...["GiB", "GB", "MiB", "MB"].map(u => $("option", {value: u, text: u === "GiB" ? "GiB (2^30 B)" : u === "GB" ? "GB (10^9 B)" : u})))));
  const gpus = $("fieldset", {id: "gpu-rows"}, $("legend", {text: "GPUs"}));
  const addGpu = $("button", {type: "button", id: "add-gpu", text: "+ another GPU type"});
  addGpu.addEventListener("click", () => { addGpuRow("", 1); onChange(); });
  controls.append(head, gpus, addGpu);
  const known = new Set(["model", "gpu"]);
  for (const [title, names] of GROUPS) {
    const fs = $("fieldset", {}, $("legend", {text: title}));
    for (const n of names) if ((V.inputs[n] && V.inputs[n].cli !== false) || (V.slots[n] && V.slots[n].cli !== false && !V.slots[n].role)) { fs.append(optionControl(n)); known.add(n); }
    controls.append(fs);
  }
  const other = $("fieldset", {}, $("legend", {text: "Other inputs"}));
  for (const [n, s] of [...Object.entries(V.inputs), ...Object.entries(V.slots)]) if (!known.has(n) && s.cli !== false && !s.role) other.append(optionControl(n));
  if (other.children.length > 1) controls.append(other);
  const result = $("section", {id: "result", "aria-live": "polite"},
    $("h2", {id: "verdict", text: ""}), $("p", {id: "error", class: "error", role: "alert"}),
    $("div", {id: "chart"}), $("table", {id: "breakdown"}), $("div", {id: "fit"}), $("ul", {id: "warnings"}),
    $("div", {id: "inverse"}),
    $("div", {class: "cli"}, $("button", {type: "button", id: "copy-cli", text: "Copy CLI command"}), $("code", {id: "cli"})),
    $("p", {id: "timing", class: "small"}));
  const prov = $("section", {id: "provenance", "aria-live": "polite"}, $("h2", {text: "Provenance"}), $("div", {id: "prov-body"}, $("p", {text: "Select a component or a figure to see its formula, inputs and sources."})));
  const assume = $("section", {id: "assumptions"}, $("h2", {text: "Assumptions"}), assumptionTable());
  app.append($("header", {}, $("h1", {text: "How much GPU memory will it need?"}),
                 $("p", {class: "small", text: `vramrules ${D.vramrules} · ${D.data}${D.sets.length ? " · --set " + D.sets.join(" --set ") : ""} · every number computed in this page from the rules, the same as the CLI's`})),
             $("main", {}, controls, $("div", {class: "out"}, result, prov)), assume);
  const rulesSel = document.getElementById("rules");
  for (const rn of Object.keys(D.rulesets)) rulesSel.append($("option", {value: rn, text: rn}));
  rulesSel.addEventListener("change", () => { state.rules = rulesSel.value; fillModes(); onChange(); });
  document.getElementById("mode").addEventListener("change", onChange);
  document.getElementById("model").addEventListener("input", onChange);
  document.getElementById("units").addEventListener("change", onChange);
  document.getElementById("copy-cli").addEventListener("click", () => {
    const text = document.getElementById("cli").textContent;
    const done = () => { document.getElementById("copy-cli").textContent = "Copied"; setTimeout(() => { document.getElementById("copy-cli").textContent = "Copy CLI command"; }, 1200); };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, () => selectText());
    else selectText();
  });
  window.addEventListener("hashchange", () => { if (location.hash.slice(1) !== toHash(state)) { fromHash(location.hash.slice(1)); syncControls(); recompute(); } });
}
function selectText() { const r = document.createRange(); r.selectNodeContents(document.getElementById("cli")); const s = getSelection(); s.removeAllRanges(); s.addRange(r); }
function fillModes() {
  const sel = document.getElementById("mode");
  sel.textContent = "";
  for (const [mn, m] of Object.entries(D.rulesets[state.rules].modes)) sel.append($("option", {value: mn, text: mn, title: m.summary}));
  if (!(state.mode in D.rulesets[state.rules].modes)) state.mode = Object.keys(D.rulesets[state.rules].modes)[0];
  sel.value = state.mode;
}
function addGpuRow(id, count) {
  const rows = document.getElementById("gpu-rows");
  const k = rows.querySelectorAll(".gpu-row").length;
  const sel = $("select", {id: `gpu-${k}`, class: "gpu-id", "aria-label": `GPU type ${k + 1}`}, $("option", {value: "", text: k ? "(remove)" : "no GPU (no verdict)"}));
  for (const [gid, e] of Object.entries(D.catalog.gpu)) sel.append($("option", {value: gid, text: `${gid} — ${e.memory || ""}`}));
  sel.value = id;
  const cnt = $("input", {type: "number", min: 1, max: MAX_GPUS, value: count, class: "gpu-count", id: `gpu-count-${k}`, "aria-label": `count of GPU type ${k + 1}`});
  sel.addEventListener("change", onChange); cnt.addEventListener("input", onChange);
  rows.append($("div", {class: "gpu-row field"}, $("label", {for: `gpu-${k}`, text: k ? "and" : "GPU"}), sel, $("label", {for: `gpu-count-${k}`, text: "×"}), cnt));
}
function placementOf() {
  const parts = [];
  for (const row of document.querySelectorAll(".gpu-row")) {
    const id = row.querySelector(".gpu-id").value, n = parseInt(row.querySelector(".gpu-count").value || "1", 10);
    if (id) parts.push(n !== 1 ? `${n}x${id}` : id);
  }
  return parts.join("+");
}
function readControls() {
  state.model = document.getElementById("model").value.trim();
  state.rules = document.getElementById("rules").value;
  state.mode = document.getElementById("mode").value;
  state.units = document.getElementById("units").value;
  state.gpu = placementOf();
  state.options = {};
  for (const el of document.querySelectorAll("[data-opt]")) if (el.value !== "") state.options[el.dataset.opt] = el.value;
}
function syncControls() {
  document.getElementById("model").value = state.model;
  document.getElementById("rules").value = state.rules;
  fillModes();
  document.getElementById("units").value = state.units;
  for (const row of document.querySelectorAll(".gpu-row")) row.remove();
  const parts = state.gpu ? state.gpu.split("+") : [""];
  for (const p of parts) { const m = /^(\d+)x(.+)$/.exec(p); addGpuRow(m ? m[2] : p, m ? parseInt(m[1], 10) : 1); }
  for (const el of document.querySelectorAll("[data-opt]")) el.value = state.options[el.dataset.opt] !== undefined ? state.options[el.dataset.opt] : "";
  placeholders();
}
function placeholders() {
  const d = defaultsFor();
  for (const el of document.querySelectorAll("input[data-opt]")) el.placeholder = el.dataset.opt === "gpus" ? "tp × pp × dp" : (d[el.dataset.opt] !== undefined ? String(d[el.dataset.opt]) : "");
  for (const el of document.querySelectorAll("select[data-opt]")) { const v = d[el.dataset.opt]; el.options[0].textContent = v !== undefined ? `default: ${v === true ? "yes" : v === false ? "no" : v}` : "rules' default"; }
}
// the page's words -> the engine's values (the CLI's parsing: HumanInt, flags, choices)
function parsedOptions(opts) {
  const out = {};
  for (const [n, v] of Object.entries(opts)) {
    const spec = V.inputs[n];
    if (!spec) { out[n] = v; continue; }
    if (spec.decl === "integer") out[n] = humanInt(v, spec.option, spec.names);
    else if (spec.decl === "number") { const x = Number(v); if (String(v).trim() === "" || !Number.isFinite(x)) throw new UsageError(`${spec.option} '${v}' is not a number`); out[n] = x; }
    else if (spec.decl === "boolean") out[n] = v === true || v === "true";
    else out[n] = v;
  }
  return out;
}
function scenarioOf(s) { return {rules: s.rules, mode: s.mode, model: s.model, gpu: s.gpu || null, options: parsedOptions(s.options)}; }
function toHash(s) {
  const p = new URLSearchParams();
  p.set("model", s.model); p.set("mode", s.mode);
  if (s.rules !== "default") p.set("rules", s.rules);
  if (s.gpu) p.set("gpu", s.gpu);
  for (const [k, v] of Object.entries(s.options)) p.set(k, v);
  if (s.units !== "GiB") p.set("units", s.units);
  return p.toString();
}
function fromHash(text) {
  const p = new URLSearchParams(text);
  state.model = p.get("model") || state.model;
  state.rules = p.get("rules") && D.rulesets[p.get("rules")] ? p.get("rules") : "default";
  state.mode = p.get("mode") || state.mode;
  state.gpu = p.get("gpu") || "";
  state.units = UNITS[p.get("units")] ? p.get("units") : "GiB";
  state.options = {};
  for (const [k, v] of p) if (k in V.inputs || (k in V.slots && !V.slots[k].role)) state.options[k] = v;
}
function shellWord(w) { return /^[A-Za-z0-9._+\/:=@,-]+$/.test(w) ? w : "'" + w.replace(/'/g, "'\\''") + "'"; }
function cliCommand(s) {
  const words = ["vramrules", "eval", "--model", s.model];
  if (s.mode !== "inference") words.push("--mode", s.mode);
  if (s.rules !== "default") words.push("--rules", s.rules);
  const one = /^(\d+)x([^+]+)$/.exec(s.gpu || "");
  if (one && !("gpus" in s.options)) words.push("--gpu", one[2], "--gpus", one[1]);  // the same placement, and eval can grow it
  else if (s.gpu) words.push("--gpu", s.gpu);
  for (const [n, v] of Object.entries(s.options)) {
    const spec = V.inputs[n] || V.slots[n];
    if (spec.decl === "boolean") words.push(v === "true" || v === true ? spec.option : "--no-" + spec.option.slice(2));
    else words.push(spec.option, String(v));
  }
  for (const d of D.data_dirs || []) words.push("--data", d);
  for (const x of D.sets) words.push("--set", x);
  if (s.units !== "GiB") words.push("--units", s.units);
  return words.map(shellWord).join(" ");
}
function onChange() { readControls(); placeholders(); recompute(); }
function recompute() {
  const t0 = performance.now();
  // the link: written after the frame (history.replaceState costs ~10 ms in Chromium, and is rate-limited)
  if (!urlPending) { urlPending = true; setTimeout(writeUrl, 0); }
  const t1 = performance.now();
  document.getElementById("cli").textContent = cliCommand(state);
  let res = null, err = null;
  try { res = evaluate(scenarioOf(state)); } catch (e) { if (!(e instanceof UsageError || e instanceof EvaluationError)) throw e; err = e; }
  const t2 = performance.now();
  last = res;
  show(res, err);
  const ms = performance.now() - t0;
  window.vramrules.lastParts = {url: t1 - t0, evaluate: t2 - t1, draw: t0 + ms - t2};
  window.vramrules.lastRecomputeMs = ms;
  document.getElementById("timing").textContent = `recomputed in ${ms.toFixed(2)} ms`;
  // the inverse answers are searches (tens of evaluations each): after the frame, never in it
  const generation = ++inverseGeneration;
  if (res && res.fit && !res.scenario.mixed) setTimeout(() => {
    if (generation !== inverseGeneration) return;
    const t1 = performance.now();
    inverse(document.getElementById("inverse"));
    document.getElementById("timing").textContent = `recomputed in ${ms.toFixed(2)} ms; inverse answers in ${(performance.now() - t1).toFixed(1)} ms`;
  }, 0);
}
let inverseGeneration = 0, urlPending = false;
function writeUrl() {
  urlPending = false;
  const hash = toHash(state);
  if (location.hash.slice(1) !== hash) history.replaceState(null, "", "#" + hash);
}
function link() { return location.href.split("#")[0] + "#" + toHash(state); }
function show(res, err) {
  const unit = state.units;
  const verdict = document.getElementById("verdict"), error = document.getElementById("error");
  const chart = document.getElementById("chart"), table = document.getElementById("breakdown"), fitBox = document.getElementById("fit");
  const warn = document.getElementById("warnings"), inv = document.getElementById("inverse");
  for (const el of [chart, table, fitBox, warn, inv]) el.textContent = "";
  error.textContent = err ? `error: ${err.message}${err.where ? " (" + err.where + ")" : ""}${err.hint ? " — hint: " + err.hint : ""} [exit ${err.exit} in the CLI]` : "";
  if (!res) { verdict.textContent = "—"; verdict.className = ""; return; }
  for (const n of ["seq_len", "batch"]) {  // the sliders follow the value in effect (typed, or the rules' default)
    const range = document.getElementById(`opt-${n}-range`);
    if (range && res.scenario.inputs[n] > 0) range.value = Math.round(Math.log2(res.scenario.inputs[n]));
  }
  const f = res.fit;
  verdict.textContent = f ? (f.fits ? `FITS on ${f.placement}${res.scenario.mixed ? "" : ` × ${f.gpus}`} — ${mem(f.headroom_per_gpu, unit)} headroom per GPU` : `DOES NOT FIT on ${f.placement} — ${mem(-f.headroom_per_gpu, unit)} short per GPU`)
                          : `${mem(res.total, unit)} needed (pick a GPU for a verdict)`;
  verdict.className = f ? (f.fits ? "fits" : "nofit") : "";
  drawChart(chart, res, unit);
  table.append($("caption", {text: `${res.scenario.model.id} · ${res.scenario.mode} · rules: ${res.scenario.rules} · per GPU`}));
  table.append($("tr", {}, $("th", {text: "component"}), $("th", {text: `memory (${unit})`}), $("th", {text: "bytes"}), $("th", {text: "share"})));
  res.components.forEach((c, i) => {
    const row = $("tr", {class: "comp", tabindex: 0, "data-name": c.name, "data-bytes": String(c.bytes)},
      $("td", {}, $("span", {class: "swatch", style: `background:${COLORS[i % COLORS.length]}`}), c.label),
      $("td", {class: "num", text: mem(c.bytes, unit)}), $("td", {class: "num", text: commas(Math.ceil(c.bytes))}), $("td", {class: "num", text: (100 * c.share).toFixed(1) + "%"}));
    row.addEventListener("click", () => provenance(c.name)); row.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); provenance(c.name); } });
    table.append(row);
  });
  const tot = $("tr", {class: "total comp", tabindex: 0, "data-name": "total", "data-bytes": String(res.total)}, $("td", {text: "total"}), $("td", {class: "num", text: mem(res.total, unit)}), $("td", {class: "num", text: commas(Math.ceil(res.total))}), $("td", {}));
  tot.addEventListener("click", () => provenance("total")); tot.addEventListener("keydown", e => { if (e.key === "Enter") provenance("total"); });
  table.append(tot);
  const figs = $("dl", {class: "figures"});
  for (const n of res.compiled.report) if (n in res.values) { const dt = $("dt", {}, $("a", {href: "#", "data-rule": n, text: res.compiled.rules[n].label})); figs.append(dt, $("dd", {text: shownValue(res.values[n], res.compiled.rules[n].dim)})); }
  if (f) {
    const rows = [["usable per GPU", f.usable_per_gpu, "usable_memory_per_gpu", true], ["needed per GPU", f.needed_per_gpu, "per_gpu_total"], ["headroom per GPU", f.headroom_per_gpu, "headroom", true]];
    for (const [label, v, rule, down] of rows) figs.append($("dt", {}, $("a", {href: "#", "data-rule": rule, text: label})), $("dd", {text: `${mem(v, unit)} (${commas(down ? Math.floor(v) : Math.ceil(v))} B)`}));
    figs.append($("dt", {text: "marketed capacity"}), $("dd", {text: mem(f.capacity_marketed, unit)}));
  }
  fitBox.append(figs);
  for (const a of fitBox.querySelectorAll("a[data-rule]")) a.addEventListener("click", e => { e.preventDefault(); provenance(a.dataset.rule); });
  for (const w of res.warnings) warn.append($("li", {text: w}));
  if (selected && (selected in res.values)) provenance(selected, true);
}
function drawChart(box, res, unit) {
  const f = res.fit, W = 760, H = 74, x0 = 8, x1 = W - 8;
  const caps = f ? (f.usable_per_device || [f.usable_per_gpu]) : [];
  const scale = Math.max(res.total, ...caps, 1) * 1.04;
  const X = b => x0 + (x1 - x0) * b / scale;
  const svg = SVG("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": `${mem(res.total, unit)} needed per GPU` + (f ? ` of ${mem(f.usable_per_gpu, unit)} usable` : "")});
  let at = 0;
  res.components.forEach((c, i) => {
    const rect = SVG("rect", {x: X(at), y: 14, width: Math.max(0, X(at + c.bytes) - X(at)), height: 30, fill: COLORS[i % COLORS.length], class: "seg", "data-name": c.name});
    const t = SVG("title", {}); t.textContent = `${c.label}: ${mem(c.bytes, unit)}`; rect.append(t);
    rect.addEventListener("click", () => provenance(c.name));
    svg.append(rect); at += c.bytes;
  });
  caps.forEach((cap, i) => {
    svg.append(SVG("line", {x1: X(cap), x2: X(cap), y1: 6, y2: 52, stroke: "#222", "stroke-width": 2, "stroke-dasharray": i ? "4 3" : "none"}));
    const t = SVG("text", {x: Math.min(X(cap), x1 - 2), y: 66, "text-anchor": "end", "font-size": 12});
    t.textContent = `${res.scenario.devices.length > 1 ? res.scenario.devices[i].entry.id + " " : ""}usable ${mem(cap, unit)}`;
    svg.append(t);
  });
  const lab = SVG("text", {x: x0, y: 10, "font-size": 11}); lab.textContent = `needed ${mem(res.total, unit)} per GPU`; svg.append(lab);
  box.append(svg);
  const legend = $("ul", {class: "legend"});
  res.components.forEach((c, i) => legend.append($("li", {}, $("span", {class: "swatch", style: `background:${COLORS[i % COLORS.length]}`}), `${c.label} ${mem(c.bytes, unit)}`)));
  box.append(legend);
}
function inverse(box) {
  const sc = scenarioOf(state);
  const items = [];
  const tryAnswer = (label, fn, fmt) => { try { const a = fn(); items.push([label, a.value === null ? (a.note || "none") : fmt(a) + (a.note ? ` (${a.note})` : "")]); } catch (e) { if (!(e instanceof UsageError)) throw e; items.push([label, e.message]); } };
  tryAnswer("longest context that fits", () => maxValue(sc, "seq_len"), a => `${commas(a.value)} tokens`);
  tryAnswer("largest batch that fits", () => maxValue(sc, "batch"), a => `${commas(a.value)} sequence${a.value === 1 ? "" : "s"}`);
  tryAnswer("fewest GPUs", () => minGpus(sc), a => `${a.value} × ${sc.gpu} (tp ${a.layout.tp}, pp ${a.layout.pp}, dp ${a.layout.dp})`);
  const dl = $("dl", {class: "figures"});
  for (const [k, v] of items) dl.append($("dt", {text: k}), $("dd", {text: v}));
  box.append($("h3", {text: "Inverse answers (vramrules fit)"}), dl);
}
function provenance(name, keep) {
  selected = name;
  const body = document.getElementById("prov-body");
  body.textContent = "";
  if (!last || !(name in last.values)) return;
  const comp = last.compiled, rule = comp.rules[name];
  body.append($("h3", {}, $("code", {text: name}), ` — ${rule.label}`),
              $("p", {}, "= ", $("code", {class: "formula", text: rule.formula})),
              $("p", {class: "value", text: shownValue(last.values[name], rule.dim)}),
              $("p", {class: "small", text: `defined at ${rule.where}`}));
  if (rule.doc) body.append($("p", {text: rule.doc}));
  if (rule.source) body.append($("p", {class: "small", text: `source: ${rule.source}`}));
  const t = $("table", {class: "inputs"}, $("tr", {}, $("th", {text: "input"}), $("th", {text: "value"}), $("th", {text: "from"}), $("th", {text: "source"})));
  for (const n of rule.deps) {
    if (!(n in last.values) && !n.includes(".")) continue;
    const d = describe(last, n);
    const nameCell = d.rule ? $("td", {}, $("a", {href: "#", text: n})) : $("td", {}, $("code", {text: n}));
    if (d.rule) nameCell.firstChild.addEventListener("click", e => { e.preventDefault(); provenance(n); });
    t.append($("tr", {}, nameCell, $("td", {text: shownValue(d.value, d.dim)}), $("td", {text: (d.entry ? d.entry + " · " : "") + d.where}), $("td", {class: "small", text: d.source || ""})));
  }
  body.append(t);
  if (!keep) document.getElementById("provenance").scrollIntoView({block: "nearest"});
}
function assumptionTable() {
  const t = $("table", {id: "assumption-table"}, $("tr", {}, $("th", {text: "assumption"}), $("th", {text: "value"}), $("th", {text: "where"}), $("th", {text: "source"})));
  for (const [n, a] of Object.entries(D.assumptions)) t.append($("tr", {}, $("td", {}, $("code", {text: `assume.${n}`}), a.summary ? $("div", {class: "small", text: a.summary}) : ""), $("td", {text: a.text}), $("td", {text: a.where}), $("td", {class: "small", text: a.source})));
  return t;
}

window.vramrules = {evaluate, resolve, maxValue, minGpus, cliCommand, toHash, fromHash, scenarioOf, state, recompute, link, lastRecomputeMs: null,
                    setState(s) { Object.assign(state, s); syncControls(); recompute(); }};
build();
if (location.hash.length > 1) fromHash(location.hash.slice(1));
if (!state.model) { state.model = D.catalog.model["llama3.1-8b"] ? "llama3.1-8b" : Object.keys(D.catalog.model)[0]; state.gpu = D.catalog.gpu["rtx-4090"] ? "rtx-4090" : ""; }
syncControls();
recompute();
"""
