"""Adding a model entry to a models.yaml without disturbing it: the file's text (comments
included) is kept, the entry is appended under `models:` (or an entry of the same id is cut out
with --force), the result is validated, then written atomically.

Entries are found by their keys' positions in the YAML itself, so an entry written on one line
(`tiny: {name: ..., ...}`) or over several in flow style is cut exactly, and nothing of its
neighbours. Writers of one file take turns (a lock), and a file changed by anyone else between
the read and the rename is reported, not overwritten: no run prints "added" for an entry that
another run's write then drops."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import DataError, Location, Problem, UsageError
from ..reading.loader import MAX_FILE_BYTES, load_text
from ..writefile import atomic_write, digest, locked
from .localfile import read_limited


def entry_yaml(ident: str, entry: dict, indent: int = 2) -> str:
    body = yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, width=120)
    pad = " " * indent
    return f"{pad}{ident}:\n" + "".join(f"{pad}  {line}\n" for line in body.splitlines())


def append_model(path, ident: str, entry: dict, force: bool = False):
    append_entry(path, "models", ident, entry, force=force, schema="models")


def _line_start(text: str, index: int) -> int:
    return max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1


def _section_node(body: str, section: str):
    """The value node of the top-level `section:` key (the text already loaded cleanly)."""
    root = yaml.compose(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if isinstance(key, yaml.ScalarNode) and key.value == section:
                return value
    return None


def append_entry(path, section: str, ident: str, entry: dict, force: bool = False, schema: str = "models"):
    """Append `ident: entry` under the top-level `section:` of a YAML file, keeping its text."""
    p = Path(path)
    with locked(p):
        raw = read_limited(p, str(p), MAX_FILE_BYTES, "a data file") if p.exists() or p.is_symlink() else None
        new = _updated(p, raw, section, ident, entry, force, schema)
        atomic_write(p, new, force=True, expect=digest(raw))


def _updated(p: Path, raw: bytes | None, section: str, ident: str, entry: dict, force: bool, schema: str) -> str:
    if raw is None:
        text = f"{section}:\n"
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, exc.start) + 1
            raise DataError([Problem(Location(str(p), line), "", f"not UTF-8: byte 0x{raw[exc.start]:02x}", "save the file as UTF-8")]) from None
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    doc = load_text(body, str(p))
    if doc.data == {} and yaml.compose(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) is None:
        body += ("" if not body or body.endswith("\n") else "\n") + f"{section}:\n"  # an empty file, or only comments
        doc = load_text(body, str(p))
    models = doc.data.get(section) if isinstance(doc.data, dict) else None
    if models is None and isinstance(doc.data, dict) and section in doc.data:
        models = {}  # the section with no entries yet
    if not isinstance(models, dict):
        raise DataError([Problem(Location(str(p)), f"/{section}", f"the file has no `{section}:` mapping to add to")])
    keys = list(doc.data)
    if keys[-1] != section:
        raise UsageError(f"{p}: `{section}:` must be the file's last top-level key to append to it")
    node = _section_node(body, section)
    indent = 2
    if isinstance(node, yaml.MappingNode) and node.flow_style:
        if node.value:
            raise UsageError(f"{p}: `{section}:` is written in flow style ({{...}}); write its entries one per line (block style) to add to it")
        body = body[: node.start_mark.index] + body[node.end_mark.index:]  # `models: {}` -> `models:`
    elif isinstance(node, yaml.MappingNode) and node.value:
        indent = node.value[0][0].start_mark.column
        keys_at = [(k.value, k.start_mark.index) for k, _ in node.value]
        ids = [k for k, _ in keys_at]
        if ident in models:
            if not force:
                raise UsageError(f"{p} already has {'a model' if section == 'models' else 'an entry'} '{ident}'; pass --force to replace it, or --id another")
            i = ids.index(ident)
            start = _line_start(body, keys_at[i][1])
            if i + 1 < len(ids):
                end = _line_start(body, keys_at[i + 1][1])
                while end > start:  # keep the next entry's leading comments
                    prev = _line_start(body, end - 1)
                    if not body[prev:end].strip().startswith("#"):
                        break
                    end = prev
            else:
                end = len(body)
            body = body[:start] + body[end:]
    new = body
    if new and not new.endswith("\n"):
        new += "\n"
    new += entry_yaml(ident, entry, indent)
    from ..reading import schema as schemas

    check = load_text(new, str(p))
    kept = {k: v for k, v in models.items() if k != ident}
    got = check.data.get(section) if isinstance(check.data, dict) else None
    if not isinstance(got, dict) or {k: v for k, v in got.items() if k != ident} != kept or ident not in got:
        raise DataError([Problem(Location(str(p)), f"/{section}", "adding the entry would change the file's other entries; nothing was written",
                                 "write the entry by hand (vramrules import without --into prints it)")])
    problems = schemas.validate(schema, check.data, check.where)
    if problems:
        raise DataError(problems)
    return bom + new
