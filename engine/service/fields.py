"""The request fields of eval, fit, list and show: one table, derived from the catalog's
vocabulary (data/vocabulary.yaml plus every overlay's), that the validator and the JSON Schemas
are both made of. A request names what the CLI names: each vocabulary input and slot the CLI
offers (`cli: true`) under its vocabulary name (`seq_len`, `kv_precision`, `gpu`), and the
command's own frame (`mode`, `rules`, `params`, `units`, `explain`; fit's `max` and `suggest`;
list's `what`; show's `kind` and `id`). A value is checked as the CLI checks its word: integers
take 32768, "32k" (32,000) or "32K" (32,768), a choice one of its choices, a quantity "64 GiB".
An option the CLI spells differently (`seq-len`, `context`, `gradient-checkpointing`) is refused
with the field that means it."""
from __future__ import annotations

import re

from ..errors import Location, Problem, UsageError, closest
from ..questions.show import KINDS as SHOW_KINDS
from ..reading.units import DISPLAY_UNITS

# `vramrules list WHAT` (commands/catalog_views.py LISTS; tests/test_service_http.py keeps the two equal)
LIST_KINDS = ("models", "gpus", "precisions", "modes", "optimizers", "lora-targets", "rulesets", "assumptions", "engines")
QUESTIONS = ("eval", "fit", "list", "show")
REQUEST = "<request>"  # the `file` of an error about the request itself
MAX_TEXT = 512         # the longest string a field takes (ids, placements, quantities)

# integers as vLLM's --max-model-len spells them (and the CLI: commands/scenario_options.HumanInt):
# lowercase decimal multipliers, uppercase binary ones
_MULT = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}
HUMAN_INT = r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*$"
_HUMAN = re.compile(HUMAN_INT)


class RequestError(UsageError):
    """A request the servers refuse before asking the engine: every problem found, each with the
    JSON pointer of its field (a usage error: HTTP 400, the CLI's exit 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def problem(pointer: str, message: str, hint: str = "", line: int = 0, col: int = 0) -> Problem:
    return Problem(Location(REQUEST, line, col), pointer, message, hint, "usage_error")


def pointer_of(key: str) -> str:
    """The JSON pointer (RFC 6901) of a top-level field."""
    return "/" + str(key).replace("~", "~0").replace("/", "~1")


class Field:
    """One request field: its kind (integer, number, boolean, choice, quantity, id, text), what
    it allows and means, and the vocabulary entry it stands for (None for the frame)."""

    __slots__ = ("name", "kind", "description", "choices", "minimum", "maximum", "default", "spec", "required")

    def __init__(self, name: str, kind: str, description: str = "", choices=(), minimum=None, maximum=None,
                 default=None, spec=None, required: bool = False):
        self.name, self.kind, self.description = name, kind, description
        self.choices, self.minimum, self.maximum = tuple(choices), minimum, maximum
        self.default, self.spec, self.required = default, spec, required

    def convert(self, value):
        """The value as the CLI hands it to the engine (int, float, bool, str), or ValueError."""
        name = self.name
        if self.kind == "integer":
            n = whole_number(value, name)
            if self.spec is not None:
                self.spec.coerce(n, name)  # the vocabulary's bounds, with its message
            return n
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, got {_shown(value)}")
            v = float(value)
            if self.spec is not None:
                self.spec.coerce(v, name)
            elif not (v == v and abs(v) != float("inf")) or (self.minimum is not None and v <= self.minimum) or v >= 1e16:
                raise ValueError(f"{name} must be a positive finite number below 1e16, got {_shown(value)}")
            return v
        if self.kind == "boolean":
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {_shown(value)}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {_shown(value)}")
        if len(value) > MAX_TEXT:
            raise ValueError(f"{name} is {len(value):,} characters long; at most {MAX_TEXT} are read")
        if self.kind == "choice":
            if self.spec is not None:
                return self.spec.coerce(value, name)
            if value not in self.choices:
                near = closest(value, self.choices, 1)
                raise ValueError(f"{name} must be one of {', '.join(self.choices)}, got {_shown(value)}"
                                 + (f" (did you mean '{near[0]}'?)" if near else ""))
            return value
        if self.kind == "quantity" and self.spec is not None:
            self.spec.coerce(value, name)  # '64 GiB' of the input's dimension; the engine reads the text
            return value
        if not value.strip():
            raise ValueError(f"{name} must not be empty")
        return value

    def schema(self) -> dict:
        """This field as JSON Schema (draft 2020-12)."""
        out: dict = {}
        if self.kind == "integer":
            out = {"type": ["integer", "string"], "pattern": HUMAN_INT}
        elif self.kind == "number":
            out = {"type": "number"}
        elif self.kind == "boolean":
            out = {"type": "boolean"}
        elif self.kind == "choice":
            out = {"type": "string", "enum": list(self.choices)}
        else:
            out = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
        if self.kind in ("integer", "number"):
            if self.minimum is not None:
                out["exclusiveMinimum" if self.spec is None else "minimum"] = _num(self.minimum)
            if self.maximum is not None:
                out["maximum"] = _num(self.maximum)
        if self.description:
            out["description"] = self.description
        if self.default is not None:
            out["default"] = self.default
        return out


def _num(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def whole_number(value, name: str) -> int:
    """32768, 32768.0, "32k" (32,000) or "32K" (32,768) as an int, as the CLI reads --seq-len."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    elif isinstance(value, float) and value == value and abs(value) != float("inf") and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and len(value) <= 40 and _HUMAN.match(value):
        m = _HUMAN.match(value)
        assert m is not None
        x = float(m.group(1)) * _MULT[m.group(2)]
        if not x.is_integer():
            raise ValueError(f"{name} must be a whole number, got {_shown(value)}")
        n = int(x)
    else:
        raise ValueError(f"{name} must be a whole number (32768, \"32k\" = 32,000, \"32K\" = 32,768), got {_shown(value)}")
    if abs(n) > 10**15:
        raise ValueError(f"{name} {_shown(value)} is unreasonably large")
    return n


def _modes(cat) -> list:
    out: list = []
    for rs in cat.rulesets.values():
        out += [m for m in rs.modes if m not in out]
    return out


def scenario_fields(cat, question: str) -> dict:
    """The fields of an eval or fit request: the frame, then every vocabulary slot and input the
    CLI offers, in the vocabulary's order."""
    vocab = cat.vocabulary
    model = vocab.by_role["model"]
    out = {model.name: Field(model.name, "id", model.description + " Or hf:ORG/NAME, ollama:NAME[:TAG], lmstudio:PUBLISHER/REPO.",
                             spec=model)}
    out["params"] = Field("params", "number", "Only a parameter count, e.g. 7e9, instead of a model (rule sets that need no architecture).",
                          minimum=0)
    out["mode"] = Field("mode", "choice", "The workload (vramrules list modes); without it, inference, or the mode the engine implies (serve).", _modes(cat), default="inference")
    out["rules"] = Field("rules", "choice", "Rule set (vramrules list rulesets); without it, default, or the one the engine selects (llama.cpp: llamacpp).", list(cat.rulesets), default="default")
    out["units"] = Field("units", "choice", "Display unit of every quantity's value (GiB = 2^30 B, GB = 10^9 B); `bytes` is always whole bytes.",
                         list(DISPLAY_UNITS), default="GiB")
    if question == "fit":
        out["max"] = Field("max", "choice", "Largest context, batch or (rules llamacpp) layers on the gpu that fits (with the given layout).",
                           ("seq-len", "batch", "n-gpu-layers"))
        out["min"] = Field("min", "choice", "Smallest (rules llamacpp) n-cpu-moe: layers whose MoE experts stay in host RAM for all layers to fit.",
                           ("n-cpu-moe",))
        out["suggest"] = Field("suggest", "boolean", "When one GPU is not enough, also try the rule set's suggested changes.", default=True)
        out["explain"] = Field("explain", "boolean", "List every probe the search evaluated.", default=False)
    else:
        out["explain"] = Field("explain", "boolean", "The derivation of every component: formula, values, each fact's file:line and source.",
                               default=False)
    for name, slot in vocab.slots.items():
        if slot.cli and name != model.name:
            out[name] = Field(name, "id", slot.description, spec=slot)
    for name, spec in vocab.inputs.items():
        if not spec.cli:
            continue
        kind = spec.decl if spec.decl in ("integer", "number", "boolean", "choice") else "quantity"
        out[name] = Field(name, kind, spec.description, spec.choices, spec.minimum, spec.maximum, spec.default, spec)
    return out


def catalog_fields(cat, question: str) -> dict:
    """The fields of a list or show request."""
    rules = Field("rules", "choice", "Rule set whose modes (list) or rule (show) to read.", list(cat.rulesets), default="default")
    if question == "list":
        return {"what": Field("what", "choice", "What to list.", LIST_KINDS, required=True), "rules": rules}
    return {"kind": Field("kind", "choice", "The kind of entry.", tuple(SHOW_KINDS), required=True),
            "id": Field("id", "text", "The entry's id (an assumption's name with or without assume.).", required=True), "rules": rules}


def fields(cat, question: str) -> dict:
    if question in ("eval", "fit"):
        return scenario_fields(cat, question)
    if question in ("list", "show"):
        return catalog_fields(cat, question)
    raise ValueError(question)


def schema(cat, question: str) -> dict:
    """The JSON Schema of a request (the MCP tools' input schemas; GET /v1/schema/QUESTION)."""
    fs = fields(cat, question)
    out = {"type": "object", "title": f"vramrules {question} request", "properties": {n: f.schema() for n, f in fs.items()},
           "additionalProperties": False}
    required = [n for n, f in fs.items() if f.required]
    if required:
        out["required"] = required
    return out


def spellings(vocab) -> dict:
    """The CLI's words for the request fields: 'seq-len', 'context', 'ctx' -> ('seq_len', None);
    a switch 'gradient-checkpointing' -> ('recompute', 'full')."""
    out: dict = {}
    for name, spec in [*vocab.inputs.items(), *vocab.slots.items()]:
        if not spec.cli:
            continue
        for w in (spec.option, *spec.aliases, name.replace("_", "-")):
            out.setdefault(w.lstrip("-"), (name, None))
        sw = getattr(spec, "switch", None)
        if sw:
            out.setdefault(sw["on"].lstrip("-"), (name, sw["on_value"]))
            out.setdefault(sw["off"].lstrip("-"), (name, sw["off_value"]))
    for w in ("model-config", "model_config"):  # the servers read no files
        out.setdefault(w, (None, None))
    return out


def _unknown(key: str, fs: dict, vocab) -> Problem:
    said = spellings(vocab).get(key.lstrip("-"))
    if said and said[0] is None:
        return problem(pointer_of(key), f"unknown field '{key}'",
                       "the servers read no files: give a catalog model id, or hf:ORG/NAME for a model on the Hub")
    if said and said[0] in fs and said[0] != key:
        name, value = said
        said_as = f'"{name}": "{value}"' if value else f"the field '{name}'"
        return problem(pointer_of(key), f"unknown field '{key}'", f"the CLI's --{key.lstrip('-')} is {said_as}")
    near = closest(key, fs, 1)
    return problem(pointer_of(key), f"unknown field '{key}'",
                   f"did you mean '{near[0]}'?" if near else f"the fields are: {', '.join(fs)}")


def parse(cat, question: str, body) -> dict:
    """The request's fields as the CLI would pass them ({field: value}; null means not given), or
    a RequestError with every problem, each at its field's pointer."""
    if not isinstance(body, dict):
        raise RequestError([problem("", f"a {question} request is a JSON object, got {type(body).__name__}",
                                    'e.g. {"model": "llama3.1-8b", "gpu": "rtx-4090"}' if question in ("eval", "fit") else "")])
    fs = fields(cat, question)
    out, problems = {}, []
    for key, value in body.items():
        f = fs.get(key)
        if f is None:
            problems.append(_unknown(str(key), fs, cat.vocabulary))
            continue
        if value is None:
            continue
        try:
            out[key] = f.convert(value)
        except ValueError as exc:
            problems.append(problem(pointer_of(key), str(exc)))
    for name, f in fs.items():
        if f.required and name not in out:
            problems.append(problem(pointer_of(name), f"a {question} request needs '{name}'",
                                    f"one of: {', '.join(f.choices)}" if f.choices else ""))
    if problems:
        raise RequestError(problems)
    return out
