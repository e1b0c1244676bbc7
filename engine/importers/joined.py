"""The catalog a scenario is evaluated in, with what the user's words import joined to it: a
checkpoint's config (--model-config), a model named on the Hub or installed by Ollama or LM
Studio (--model hf:ORG/NAME, ollama:NAME:TAG, lmstudio:PUBLISHER/REPO) and this machine's GPUs
(--gpu auto), as in-memory documents over the data folders."""
from __future__ import annotations

from ..errors import DataError, UsageError, coded
from ..evaluation.load import load_catalog
from ..reading.names import source_of


def read_model(source: str, text: str, data=(), sets=(), precision_given: bool = False) -> tuple[str, dict, str]:
    """(id, models.yaml entry, shown) of a model named hf:..., ollama:... or lmstudio:...; each
    importer is imported only when its spelling is used (huggingface_hub only for hf:)."""
    if source == "hf:":
        from . import hub

        return hub.read(text, data, sets, precision_given)
    from . import local_models

    return local_models.ollama_entry(text) if source == "ollama:" else local_models.lmstudio_entry(text)


def import_entry(text: str, ident: str | None = None, data=(), sets=()) -> tuple[str, dict, str]:
    """(id, models.yaml entry, shown) for `vramrules import`: a local path, or a model named
    hf:..., ollama:... or lmstudio:... (read as --model reads it: the caches first); `ident`
    replaces the id the importer makes."""
    source = source_of(text)
    if not source:
        from .model_entry import from_path

        return from_path(text, ident, data, sets)
    made, entry, shown = read_model(source, text, data, sets)
    return ident or made, entry, shown


def scenario_catalog(data, sets, model, model_config, gpu, gpus, options, catalog=None):
    """The catalog a scenario is evaluated in, and its model and GPU ids: an imported config
    (--model-config), a model read from the Hub, Ollama or LM Studio (`model` spelled hf:,
    ollama:, lmstudio:) and this machine's GPUs (--gpu auto) join it as in-memory documents.
    Returns (catalog, model id, gpu id, gpus)."""
    docs = []
    source = source_of(model)
    if source:  # a model to read: hf:ORG/NAME (the Hub), ollama:NAME[:TAG], lmstudio:PUBLISHER/REPO
        from .model_entry import document

        if model_config is not None:
            raise UsageError("give either --model or --model-config, not both")
        try:
            model, entry, shown = read_model(source, model, data, sets, options.get("precision") is not None)
        except DataError as exc:
            raise DataError(coded(exc.problems, "import_error")) from None
        docs.append(("models.yaml", document(model, entry, shown, layer="--model")))
    elif model_config is not None:
        from .model_entry import document, from_path

        if model is not None:
            raise UsageError("give either --model or --model-config, not both")
        try:
            model, entry, shown = from_path(model_config, None, data, sets, precision_given=options.get("precision") is not None)
        except DataError as exc:
            raise DataError(coded(exc.problems, "import_error")) from None
        docs.append(("models.yaml", document(model, entry, shown)))
    if gpu == "auto":  # each GPU matched to the catalog's by name and memory, or an entry of its own
        from . import local_gpu

        found = local_gpu.detect()
        base = catalog if catalog is not None else load_catalog(data, sets=sets)
        text, own, used_mib = local_gpu.placement(found, base.kind("gpu"))
        if own:
            docs.append(("gpus.yaml", local_gpu.documents(own)))
        ids = text.split("+")
        if len(set(ids)) == 1:  # one kind: --gpu ID on as many GPUs as there are (unless a layout says how many)
            gpu = ids[0]
            if gpus is None and not any(options.get(k) for k in ("tp", "pp", "dp")):
                gpus = len(found)
        else:
            gpu = text
        if options.get("reserve") is None and "reserve" in base.vocabulary.inputs:  # what other programs hold already
            options["reserve"] = f"{local_gpu._mib(used_mib)} MiB"
    if docs:
        catalog = load_catalog(data, sets=sets, docs=tuple(docs))
    return catalog or load_catalog(data, sets=sets), model, gpu, gpus
