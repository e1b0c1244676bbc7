"""The request layer both servers share: one catalog loaded at start (the built-in data,
VRAMRULES_DATA, the server's --data folders and --set values), requests validated by
service/fields.py, and the answers the CLI's `--format json` prints: eval's document
(evaluation/document.py), fit's (render/fit_format.py), list's rows (questions/listing.py) and
show's (questions/show.py). The engine runs on one worker thread, one request at a time (the
catalog's compiled functions are shared), and a request that computes longer than its bound is
answered with a `timeout` error."""
from __future__ import annotations

import concurrent.futures
import os

from ..errors import UsageError, VramrulesError
from ..evaluation.engines import frame as engine_frame
from ..version import __version__
from . import fields as F


class NotFound(UsageError):
    """show names an entry the catalog lacks (HTTP 404; the CLI's exit 2)."""


class TimedOut(VramrulesError):
    """The engine took longer than the request's bound (HTTP 504)."""

    exit_code = 1
    code = "timeout"


def error_object(code: str, message: str, hint: str = "") -> dict:
    """An error object of the servers' own (request_error, timeout, internal_error), in the
    shape of the engine's (errors.Problem.as_json)."""
    return {"code": code, "file": None, "line": None, "col": None, "pointer": None, "message": message, "hint": hint or None}


def _split(cat, opts: dict) -> tuple:
    """(model, gpu, the frame, the scenario options) of a validated eval or fit request."""
    vocab = cat.vocabulary
    rest = dict(opts)
    model = rest.pop(vocab.by_role["model"].name, None)
    gpu = rest.pop(vocab.by_role["gpu"].name, None)
    frame = {k: rest.pop(k) for k in ("params", "mode", "rules", "units", "explain", "max", "min", "suggest") if k in rest}
    return model, gpu, frame, rest


class Service:
    """The catalog and the engine worker of one server process."""

    def __init__(self, data=(), sets=()):
        from ..api import load_catalog

        self.data, self.sets = tuple(str(d) for d in data), tuple(sets)
        # full: show reads the merged files; eval, fit and list read the same catalog
        self.catalog = load_catalog(self.data, sets=self.sets, full=True)
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vramrules-engine")

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def page(self) -> bytes:
        """The calculator page of this catalog (`vramrules web`), made once on first request."""
        page = getattr(self, "_page", None)
        if page is None:
            from ..render.web_page import render

            label = "built-in data" + "".join(f" + --data {d}" for d in self.data)
            page = self._page = render(self.catalog, label, self.sets, self.data).encode("utf-8")
        return page

    # -- the four questions: a request body (a dict) -> the JSON the CLI prints -----------------

    def eval(self, body) -> dict:
        from ..api import evaluate
        from ..evaluation.document import document

        cat = self.catalog
        model, gpu, frame, options = _split(cat, F.parse(cat, "eval", body))
        result = evaluate(model, frame.get("mode"), gpu=gpu, rules=frame.get("rules"), data=self.data,  # None: inference/default, or the engine's
                          sets=self.sets, params=frame.get("params"), catalog=cat, **options)
        return document(result, frame.get("units", "GiB"), frame.get("explain", False))

    def fit(self, body) -> dict:
        """As `vramrules fit` (commands/inverse.py) asks it: the fewest GPUs (and the cheaper
        changes), the largest seq-len or batch, or the GPUs that fit it on one card."""
        from ..api import evaluate, scenario_catalog
        from ..questions import fit as Q
        from ..reading.names import source_of
        from ..render.fit_format import render

        cat = self.catalog
        model, gpu, frame, opts = _split(cat, F.parse(cat, "fit", body))
        params = frame.get("params")
        units, maximize, suggest = frame.get("units", "GiB"), frame.get("max"), frame.get("suggest", True)
        words = {"data": self.data, "sets": self.sets, "model_config": None, "gpu": gpu, "units": units,
                 "model_source": model if source_of(model) else None}
        cat, model, gpu, gpus = scenario_catalog(self.data, self.sets, model, None, gpu, opts.get("gpus"), opts, cat)
        if gpus is not None:
            opts["gpus"] = gpus
        rules, mode = engine_frame(cat, opts.get("engine"), frame.get("rules"), frame.get("mode"))  # as the CLI's fit: the engine's rule set and mode
        minimize = frame.get("min")
        if maximize and minimize:
            raise F.RequestError([F.problem("/min", "give max or min, not both", 'drop "min" or "max"')])
        opts = Q.with_search_defaults(cat, rules, opts)  # what the rule set holds while searching (llamacpp: -ngl all), unless given
        if maximize == "n-gpu-layers":
            opts.pop("n_gpu_layers", None)
        args = dict(rules=rules, params=params, base_options=opts)
        out: dict = {"question": None}
        if gpu is None:
            if maximize or minimize:
                where = "/max" if maximize else "/min"
                raise F.RequestError([F.problem(where, f"{where[1:]} needs a gpu", 'add "gpu": "NAME" (vramrules list gpus)')])
            out = {"question": "gpus-that-fit", "rows": Q.gpus_that_fit(cat, model, mode, **args)}
        elif maximize:
            name = maximize.replace("-", "_")
            out = {"question": f"max-{maximize}", "answer": Q.max_value(cat, model, mode, gpu, name, **args), "name": name}
        elif minimize:
            name = minimize.replace("-", "_")
            out = {"question": f"min-{minimize}", "answer": Q.min_value(cat, model, mode, gpu, name, **args), "name": name}
        else:
            one = evaluate(model, mode, gpu=gpu, catalog=cat, needed=False, **opts, rules=rules, params=params)
            out = {"question": "min-gpus", "one": one, "answer": Q.min_gpus(cat, model, mode, gpu, keep_layout=True, **args),
                   "suggestions": Q.suggestions(cat, model, mode, gpu, **args) if suggest and one.fit is not None and not one.fit.fits else []}
        out.update(model=model, params=params, mode=mode, gpu=gpu, options=opts, rules=rules, words=words, vocabulary=cat.vocabulary)
        return render(out, units, frame.get("explain", False))[1]

    def list_entries(self, body) -> list:
        from ..questions.listing import rows

        req = F.parse(self.catalog, "list", body)
        return rows(self.catalog, req["what"], req.get("rules", "default"))[1]

    def show(self, body) -> list:
        from ..questions.show import fields

        req = F.parse(self.catalog, "show", body)
        kind, ident = req["kind"], req["id"]
        if kind == "assumption" and ident.startswith("assume."):
            ident = ident[len("assume."):]
        try:
            return fields(self.catalog, kind, ident, req.get("rules", "default"))
        except UsageError as exc:
            raise NotFound(str(exc)) from None

    def health(self) -> dict:
        cat = self.catalog
        n = {k: len(v) for k, v in cat.entries.items()}
        return {"status": "ok", "vramrules": __version__, "data": [d for d, _label in _dirs(self.data)], "sets": list(self.sets),
                "catalog": {"models": n.get("model", 0), "gpus": n.get("gpu", 0), "precisions": n.get("precision", 0),
                            "rulesets": list(cat.rulesets)},
                "questions": list(F.QUESTIONS)}

    def schema(self, question: str) -> dict:
        return F.schema(self.catalog, question)

    # -- one request at a time on the engine worker, time-bounded -------------------------------

    def answer(self, question: str, body, timeout: float | None = None):
        """The JSON answer to one request, computed on the engine worker; a VramrulesError for a
        refused request or a failed rule, TimedOut past `timeout` seconds."""
        if question not in F.QUESTIONS:
            raise UsageError(f"unknown question '{question}' (one of {', '.join(F.QUESTIONS)})")
        job = {"eval": self.eval, "fit": self.fit, "list": self.list_entries, "show": self.show}[question]
        future = self._worker.submit(job, body)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():  # the job's own TimeoutError, not the bound's
                return future.result()
            future.cancel()  # not started yet: never runs; started: it finishes alone, its answer dropped
            raise TimedOut(f"the {question} request took longer than {timeout:g} s (the server's --timeout)") from None


def _dirs(data) -> list:
    from ..api import data_dirs

    return data_dirs(data)


def debug() -> bool:
    return bool(os.environ.get("VRAMRULES_DEBUG"))
