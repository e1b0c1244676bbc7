"""A model on the Hugging Face Hub, read the way hf-mem reads it: config.json and the headers of
its weights, never the weights.

    hf:ORG/NAME                     config.json + every safetensors shard's header (the shards
                                    model.safetensors.index.json lists, or model.safetensors)
    hf:ORG/NAME@REVISION            at a branch, tag or commit
    hf:ORG/NAME:FILE.gguf           a GGUF file of the repo (a path inside it), header only
    hf:ORG/NAME:Q4_K_M              the repo's GGUF file of that quant (llama.cpp's -hf spelling);
                                    a GGUF-only repo with one model needs no :FILE; the repo's
                                    mmproj file (a vision model's projector), header only, is
                                    its projector block, as llama-server -hf loads it

A safetensors header is two HTTP range requests: the 8-byte length, then the JSON header of
that length; a GGUF header is read from the start of the file in growing chunks until its tensor
table ends. Everything goes through huggingface_hub: HfApi.model_info for the file list and the
commit, hf_hub_download for config.json and the index (into its cache), its session, headers
and hf_raise_for_status for the range requests, so HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE and
HF_HOME/HF_HUB_CACHE mean what they mean to every Hugging Face tool (read when the model is
read, not when huggingface_hub was imported).

The local cache comes first and costs no request: a snapshot in the Hugging Face cache that
holds config.json and the whole checkpoint (or the GGUF file) is read from disk; the headers
read from the Hub are kept in vramrules' cache (VRAMRULES_CACHE_DIR) with the commit they came
from, beside the config.json and index that hf_hub_download keeps, so the same model a second
time, or offline, makes no request. A branch is read as the cache last saw it (vramrules asks
the Hub again after MEMO_DAYS; @COMMIT pins one for good).

Every header goes through the same checks as a local file's (safetensors, gguf_file), and every
failure of the library is a vramrules error with its exit code (see _mapped): a repo that is
not there, gated, offline without a cache, a network that does not answer are usage errors
(exit 2); a file the Hub serves broken (a truncated header, a range it cannot satisfy) is a data
error (exit 1). Nothing here is imported unless a model is named hf:."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from ..errors import DataError, Location, Problem, UsageError, VramrulesError
from ..reading import cache
from ..version import __version__
from . import gguf_file, hf_config, model_entry, safetensors
from .gguf_file import SPLIT, read_parts
from .local_models import pick_gguf
from .localfile import read_limited

PREFIX = "hf:"
CONFIG = "config.json"
SINGLE = "model.safetensors"
TIMEOUT = 10.0                 # seconds, as huggingface_hub's HF_HUB_DOWNLOAD_TIMEOUT
FIRST_CHUNK = 256 * 2**10      # a GGUF header's first request; each next one doubles, up to
MAX_CHUNK = 4 * 2**20
MAX_GGUF_HEADER = 256 * 2**20  # a GGUF's metadata and tensor table read from the Hub, at most
MAX_ERROR_BODY = 1 << 20
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
_REV = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,255}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
MEMO = 1  # the layout of a memo in vramrules' cache
MEMO_DAYS = 7  # a branch's memo is used this long online (offline, always); a commit's, always


class Spec(NamedTuple):
    repo: str
    revision: str | None
    file: str | None   # FILE.gguf (a path in the repo) or a quant tag
    text: str          # as written


def parse(text: str) -> Spec:
    """hf:ORG/NAME[@REVISION][:FILE.gguf | :QUANT], checked (a git ref holds no ':')."""
    head, colon, file = text[len(PREFIX):].partition(":")
    repo, at, rev = head.partition("@")
    if not _REPO.match(repo) or "--" in repo or ".." in repo or repo.endswith((".", "-")):
        raise UsageError(f"'{text}' does not name a Hugging Face repo: write hf:ORG/NAME (hf:meta-llama/Llama-3.1-8B), "
                         "optionally with @REVISION and :FILE.gguf or :QUANT")
    if at and (not _REV.match(rev) or ".." in rev or "//" in rev or rev.endswith("/")):
        raise UsageError(f"'{text}': {rev!r} is not a revision: write hf:ORG/NAME@REVISION (a branch, tag or commit)")
    if colon:
        parts = file.split("/")
        ok = all(p not in (".", "..") and _TAG.match(p) for p in parts) if file.lower().endswith(".gguf") else bool(_TAG.match(file))
        if not ok:
            raise UsageError(f"'{text}': {file!r} is neither a .gguf file of the repo nor a quant such as Q4_K_M")
    return Spec(repo, rev if at else None, file if colon else None, text)


class Env(NamedTuple):
    endpoint: str
    offline: bool
    cache_dir: str
    timeout: float


def _true(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def environment() -> Env:
    """The Hugging Face settings now, by huggingface_hub's own precedence: HF_ENDPOINT,
    HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE), HF_HUB_CACHE, else HF_HOME/hub, else
    $XDG_CACHE_HOME/huggingface/hub; HF_HUB_DOWNLOAD_TIMEOUT seconds per request."""
    try:
        from huggingface_hub import constants
    except ImportError:
        raise UsageError("reading hf: models needs the huggingface_hub package: pip install 'vramrules[hub]'") from None
    except ValueError as exc:  # it reads its environment when imported: HF_HUB_DOWNLOAD_TIMEOUT=1.5 is refused there
        raise UsageError(f"huggingface_hub refuses its environment: {_first_line(exc)} (its timeouts are whole seconds)") from None
    endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    offline = _true(os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")) or bool(constants.HF_HUB_OFFLINE)
    hub_cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if not hub_cache:
        home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        hub_cache = os.path.join(home, "hub")
    try:
        timeout = float(int(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or TIMEOUT))
    except ValueError:
        raise UsageError(f"HF_HUB_DOWNLOAD_TIMEOUT={os.environ['HF_HUB_DOWNLOAD_TIMEOUT']!r} is not a whole number of seconds") from None
    return Env(endpoint, offline, os.path.expandvars(os.path.expanduser(hub_cache)), timeout if timeout > 0 else TIMEOUT)


def read(text: str, data=(), sets=(), precision_given: bool = False) -> tuple[str, dict, str]:
    """(id, models.yaml entry, shown) of the model hf:... names."""
    spec = parse(text)
    reader = _Reader(spec, environment())
    try:
        return reader.read(data, sets, precision_given)
    except VramrulesError:
        raise
    except Exception as exc:  # what huggingface_hub and its HTTP client raise: mapped, or a bug (exit 70)
        mapped = reader.mapped(exc)
        if mapped is None:
            raise
        raise mapped from None


class _NotCached(Exception):
    """A header the memo lacks: read the model from the Hub instead."""


class _Remote:
    """read(n)/seek(n, 1) over a GGUF on the Hub: the file's start, fetched in growing chunks as
    the reader walks it (`fetch(start, end)` -> bytes), or from a memo's bytes alone."""

    def __init__(self, fetch, size: int, prefix: bytes, shown: str):
        self.fetch, self.size, self.buf, self.shown = fetch, size, bytearray(prefix), shown
        self.pos, self.chunk = 0, FIRST_CHUNK * 2

    def _reach(self, end: int) -> None:
        while len(self.buf) < end:
            if self.fetch is None:
                raise _NotCached(self.shown)
            start = len(self.buf)
            want = min(max(end - start, self.chunk), self.size - start)
            if start + want > MAX_GGUF_HEADER:
                raise DataError([Problem(Location(self.shown), "", f"the GGUF header runs past {MAX_GGUF_HEADER} bytes; vramrules reads at most that much of a file on the Hub",
                                         "is this a GGUF model file?")])
            self.chunk = min(self.chunk * 2, MAX_CHUNK)
            got = self.fetch(start, start + want - 1)
            if not got:
                return
            self.buf += got

    def read(self, n: int = -1) -> bytes:
        end = self.size if n < 0 else min(self.pos + n, self.size)
        self._reach(end)
        out = bytes(self.buf[self.pos:end])
        self.pos += len(out)
        return out

    def seek(self, n: int, whence: int = 0) -> int:
        self.pos = self.pos + n if whence == 1 else n
        return self.pos


class _Reader:
    def __init__(self, spec: Spec, env: Env):
        self.spec, self.env = spec, env
        self.doing = "the model's file list"  # what was being read, for the messages
        self.listed = False                   # the repo's own listing names that file
        self.commit = ""
        self.memo: dict = {}

    # --- names -------------------------------------------------------------------------------

    @property
    def label(self) -> str:
        return PREFIX + self.spec.repo + (f"@{self.spec.revision}" if self.spec.revision else "")

    def shown(self, name: str) -> str:
        return f"{self.label}/{name}" if name else self.label

    def ident(self, stem: str = "") -> str:
        base = stem or self.spec.repo.split("/")[-1]
        return "hf-" + (re.sub(r"[^a-z0-9.]+", "-", base.lower()).strip("-.") or "model")

    def url(self, name: str) -> str:
        return f"{self.env.endpoint}/{self.spec.repo}/blob/{self.commit}/{name}"

    # --- the three sources, in order -----------------------------------------------------------

    def read(self, data, sets, precision_given):
        got = self.from_hf_cache(data, sets, precision_given)
        if got is None:
            got = self.from_memo(data, sets, precision_given)
        if got is None:
            if self.env.offline:
                raise self.offline()
            got = self.from_hub(data, sets, precision_given)
        return got

    def cached(self, name: str, revision: str | None = None) -> str | None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.spec.repo, name, cache_dir=self.env.cache_dir, revision=revision or self.spec.revision)
        return found if isinstance(found, str) else None

    def from_hf_cache(self, data, sets, precision_given):
        """The model from a snapshot in the Hugging Face cache that holds all of it, or None."""
        spec = self.spec
        config = None if spec.file else self.cached(CONFIG)
        if config is not None:
            self.commit = os.path.basename(os.path.dirname(config))
            index = self.cached(safetensors.INDEX, self.commit)
            if index is not None:
                names, found = safetensors.index_names(read_limited(index, self.shown(safetensors.INDEX), safetensors.MAX_INDEX, "an index"),
                                                       self.shown(safetensors.INDEX))
                paths = {n: self.cached(n, self.commit) for n in sorted(names)}
                if any(p is None for p in paths.values()):
                    return None
                return self.safetensors_entry(self.read_file(config), list(paths), found, lambda n, s: safetensors.read_header(Path(paths[n] or ""), s),
                                              "from the Hugging Face cache", data, sets, precision_given)
            single = self.cached(SINGLE, self.commit)
            if single is not None:
                return self.safetensors_entry(self.read_file(config), [SINGLE], None, lambda n, s: safetensors.read_header(Path(single), s),
                                              "from the Hugging Face cache", data, sets, precision_given)
            return None
        files = self.cached_files()
        if files is None or (spec.file is None and (CONFIG in files or not any(f.lower().endswith(".gguf") for f in files))):
            return None
        try:
            parts = pick_gguf(sorted(files), spec.file, self.label, self.spell)
        except VramrulesError:
            return None  # not (all) cached: the Hub decides
        got = self.gguf_entry(parts, [files[p] for p in parts], "from the Hugging Face cache")
        projector = None if gguf_file.is_projector(parts[0]) else gguf_file.pick_projector(files)
        if projector is not None:  # the repo's mmproj, as llama-server -hf loads it
            got[1]["projector"] = gguf_file.read_projector(Path(files[projector]), self.shown(projector))
        return got

    def cached_files(self) -> dict | None:
        """{file: path} of the cached snapshot of this revision (scan_cache_dir), or None."""
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.utils import CacheNotFound, CorruptedCacheException

        try:
            info = scan_cache_dir(self.env.cache_dir)
        except (CacheNotFound, CorruptedCacheException, OSError):
            return None
        rev = self.spec.revision or "main"
        for repo in info.repos:
            if repo.repo_type == "model" and repo.repo_id.lower() == self.spec.repo.lower():
                for r in repo.revisions:
                    if r.commit_hash == rev or rev in r.refs:
                        self.commit = r.commit_hash
                        return {str(PurePosixPath(*f.file_path.relative_to(r.snapshot_path).parts)): str(f.file_path) for f in r.files}
        return None

    def memo_key(self) -> str:
        words = json.dumps([MEMO, self.env.endpoint, self.spec.repo.lower(), self.spec.revision or "main", self.spec.file or ""])
        return "hub-" + hashlib.sha256(words.encode()).hexdigest()[:32]

    def from_memo(self, data, sets, precision_given):
        """The model from what an earlier read kept (its headers) and the Hugging Face cache (its
        config.json and index), or None when any of it is gone."""
        memo = cache.read_json(self.memo_key())
        if not (isinstance(memo, dict) and memo.get("v") == MEMO and memo.get("sum") == _sum(memo) and isinstance(memo.get("commit"), str) and _COMMIT.match(memo["commit"])
                and isinstance(memo.get("heads"), dict) and isinstance(memo.get("files"), list)):
            return None
        branch = not _COMMIT.match(self.spec.revision or "")
        age = time.time() - memo["read_at"] if isinstance(memo.get("read_at"), (int, float)) else float("inf")
        if branch and age > MEMO_DAYS * 86400 and not self.env.offline:
            return None  # a branch moves: ask the Hub again now and then
        self.commit = memo["commit"]
        heads = memo["heads"]

        def head(name: str) -> tuple[bytes, int]:
            got = heads.get(name)
            if not (isinstance(got, dict) and isinstance(got.get("size"), int) and isinstance(got.get("bytes"), str)):
                raise _NotCached(name)
            try:
                return base64.b64decode(got["bytes"], validate=True), got["size"]
            except ValueError:
                raise _NotCached(name) from None

        try:
            if memo.get("kind") == "gguf":
                parts = [str(f) for f in memo["files"]]
                projector = memo.get("projector") if isinstance(memo.get("projector"), str) else None
                return self.remote_gguf(parts, lambda name: (head(name), None), "from vramrules' cache of its header", projector=projector)
            config = self.cached(CONFIG, self.commit)
            if config is None:
                return None
            names = [str(f) for f in memo["files"]]
            found = None
            if memo.get("index"):
                index = self.cached(safetensors.INDEX, self.commit)
                if index is None:
                    return None
                found = safetensors.index_names(read_limited(index, self.shown(safetensors.INDEX), safetensors.MAX_INDEX, "an index"),
                                                self.shown(safetensors.INDEX))[1]

            def header(name: str, shown: str):
                raw, size = head(name)
                n = safetensors.header_length(raw[:8], size, shown)
                return safetensors.decode_header(raw[8:8 + n], n, size, shown)

            return self.safetensors_entry(self.read_file(config), names, found, header, "kept from an earlier read", data, sets, precision_given)
        except _NotCached:
            return None

    def from_hub(self, data, sets, precision_given):
        from huggingface_hub import HfApi

        spec = self.spec
        api = HfApi(endpoint=self.env.endpoint, library_name="vramrules", library_version=__version__)
        info = api.model_info(spec.repo, revision=spec.revision, timeout=self.env.timeout)
        if not isinstance(info.sha, str) or not _COMMIT.match(info.sha):
            raise UsageError(f"{self.env.endpoint} did not say which commit {self.label} is at; is HF_ENDPOINT a Hugging Face Hub?")
        self.commit = info.sha
        files = sorted(s.rfilename for s in info.siblings or [] if isinstance(getattr(s, "rfilename", None), str))
        ggufs = [f for f in files if f.lower().endswith(".gguf")]
        self.memo = {"v": MEMO, "commit": self.commit, "heads": {}, "read_at": time.time()}
        if spec.file or (CONFIG not in files and ggufs):
            parts = pick_gguf(files, spec.file, self.label, self.spell)
            self.listed = True
            # llama-server -hf loads the repo's mmproj file beside the model (common/arg.cpp): its header is read too
            projector = None if gguf_file.is_projector(parts[0]) else gguf_file.pick_projector(files)
            return self.remote_gguf(parts, self.first_chunk, "read by HTTP range requests", keep=True, projector=projector)
        if CONFIG not in files:
            raise UsageError(f"{self.label} has no config.json and no .gguf file: vramrules reads a model's config.json and safetensors headers, "
                             "or a GGUF file")
        config = self.download(CONFIG)
        found = None
        if safetensors.INDEX in files:
            index = self.download(safetensors.INDEX)
            names_map, found = safetensors.index_names(read_limited(index, self.shown(safetensors.INDEX), safetensors.MAX_INDEX, "an index"),
                                                       self.shown(safetensors.INDEX))
            missing = [n for n in sorted(names_map) if n not in files]
            if missing:
                raise DataError([Problem(Location(self.shown(safetensors.INDEX)), "", f"the index names shards that the repo does not hold: {', '.join(missing[:3])}",
                                         "the repo is incomplete at this revision; try another")])
            names = sorted(names_map)
        elif SINGLE in files:
            names = [SINGLE]
        else:
            top = [f for f in files if "/" not in f and f.endswith(".safetensors")]
            names = safetensors.series(self.label, top) if len(top) > 1 or (top and SPLIT.match(top[0])) else top
        self.memo.update(kind="safetensors" if names else "config", files=names, index=found is not None)
        self.listed = True
        entry = self.safetensors_entry(self.read_file(config), names, found, self.remote_header, "read by HTTP range requests", data, sets, precision_given)
        self.keep()
        return entry

    # --- building the entry --------------------------------------------------------------------

    def read_file(self, path: str) -> bytes:
        return read_limited(path, self.shown(CONFIG), hf_config.MAX_CONFIG_BYTES, "a config")

    def safetensors_entry(self, config: bytes, names: list[str], found, header, how: str, data, sets, precision_given):
        shown_cfg = self.shown(CONFIG)
        cfg = model_entry.config_from_bytes(config, shown_cfg)
        summary = None
        if names:
            bits = hf_config.packed_bits(cfg, shown_cfg)

            def shards():
                for name in names:
                    self.doing = name
                    shown = self.shown(name)
                    head, after = header(name, shown)
                    yield shown, safetensors.check_tensors(head, after, shown)

            summary = safetensors.count(shards(), bits, found, lambda shard: self.shown(str(PurePosixPath(shard))), self.label)
        ident = self.ident()
        counted = f"of {self.label} at commit {self.commit} ({len(names)} file(s), {how})"
        entry = model_entry.config_entry(ident, cfg, shown_cfg, summary, counted, data, sets, precision_given,
                                         source=f"{self.url(CONFIG)} (imported by vramrules)")
        entry["name"] = self.spec.repo
        return ident, entry, shown_cfg

    def gguf_entry(self, parts: list[str], paths: list[str], how: str):
        shown = [self.shown(p) for p in parts]
        stem = self.stem(parts[0])
        entry = read_parts([Path(p) for p in paths], shown, stem)
        return self.finish_gguf(entry, parts, how)

    def stem(self, name: str) -> str:
        base = name.rsplit("/", 1)[-1]
        m = SPLIT.match(base)
        return m["stem"] if m else base[: -len(".gguf")]

    def finish_gguf(self, entry: dict, parts: list[str], how: str):
        shown = self.shown(parts[0])
        more = f" and its {len(parts) - 1} other part(s)" if len(parts) > 1 else ""
        entry = model_entry.gguf_entry(entry, f"{shown}{more} at commit {self.commit} ({how})")
        entry["source"] = f"GGUF metadata and tensor table of {self.url(parts[0])}{more}"
        if entry.get("name") in (None, "", self.stem(parts[0])):
            entry["name"] = f"{self.spec.repo}/{parts[0]}"
        return self.ident(self.stem(parts[0]) if self.spec.file else ""), entry, shown

    def remote_gguf(self, parts: list[str], first, how: str, keep: bool = False, projector: str | None = None):
        """The GGUF entry of `parts` read through `first(name)` -> ((prefix bytes, file size), fetch), with the
        `projector` file's (the repo's mmproj) tensor table as its projector block."""
        quants = gguf_file._quant_sizes()
        scanned = []
        for name in parts + ([projector] if projector else []):
            self.doing = name
            shown = self.shown(name)
            (prefix, size), fetch = first(name)
            stream = _Remote(fetch, size, prefix, shown)
            meta, tensors = gguf_file.scan_stream(stream, size, shown, quants)
            self.memo.setdefault("heads", {})[name] = {"size": size, "bytes": base64.b64encode(bytes(stream.buf)).decode("ascii")}
            scanned.append((meta, tensors, shown))
        block = None
        if projector:
            meta, tensors, shown = scanned.pop()
            block = gguf_file.projector_of(meta, tensors, shown)
            block["source"] = f"GGUF tensor table of {self.url(projector)}"
        stem = self.stem(parts[0])
        if len(scanned) == 1 and gguf_file.split_count(scanned[0][0]) == 1:
            entry = gguf_file.entry_of(scanned[0][0], scanned[0][1], scanned[0][2], stem)
        else:
            if gguf_file.split_count(scanned[0][0]) != len(scanned):
                raise DataError([Problem(Location(scanned[0][2]), "/split.count", f"the file says the model is split over {gguf_file.split_count(scanned[0][0])} files, "
                                         f"but the repo holds {len(scanned)}")])
            entry = gguf_file.entry_of_parts(scanned, stem)
        got = self.finish_gguf(entry, parts, how)
        if block is not None:
            got[1]["projector"] = block
        if keep:  # what was read from the Hub, for the next time
            self.memo.update(kind="gguf", files=parts, projector=projector)
            self.keep()
        return got

    def keep(self) -> None:
        """The memo of this read, with a checksum: one changed byte and it is not used."""
        self.memo["sum"] = _sum(self.memo)
        cache.write_json(self.memo_key(), self.memo)

    def spell(self, choice: str) -> str:
        return f"{self.label}:{choice}"

    # --- the Hub -------------------------------------------------------------------------------

    def download(self, name: str) -> str:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import silent_tqdm

        self.doing, self.listed = name, True
        return hf_hub_download(self.spec.repo, name, revision=self.commit, cache_dir=self.env.cache_dir, endpoint=self.env.endpoint,
                               etag_timeout=self.env.timeout, library_name="vramrules", library_version=__version__,
                               tqdm_class=silent_tqdm)

    def get_range(self, name: str, start: int, end: int) -> tuple[bytes, int]:
        """Bytes start..end (inclusive) of a file of the repo at the commit, and the file's size:
        one GET with a Range header through huggingface_hub's session. A server that ignores the
        range (200) is read only as far as needed; a longer answer is not read past `end`."""
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(self.spec.repo, name, revision=self.commit, endpoint=self.env.endpoint)
        headers = build_hf_headers(library_name="vramrules", library_version=__version__)
        headers.update({"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"})
        shown = self.shown(name)
        with get_session().stream("GET", url, headers=headers, timeout=self.env.timeout) as r:
            if r.status_code >= 400:
                length = r.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > MAX_ERROR_BODY:  # not read: hf_raise_for_status would read it whole
                    raise UsageError(f"{self.env.endpoint} answered {r.status_code} for {shown}")
                r.read()
                hf_raise_for_status(r)
            if r.status_code == 206:
                m = _RANGE.match(r.headers.get("Content-Range", "").strip())
                if not m or int(m.group(1)) != start:
                    raise DataError([Problem(Location(shown), "", f"the Hub answered bytes {r.headers.get('Content-Range')!r} for bytes {start}-{end}",
                                             "a server between here and the Hub changes range requests?")])
                size, skip = int(m.group(3)), 0
            elif r.status_code == 200:
                length = r.headers.get("Content-Length", "")
                if not length.isdigit():
                    raise DataError([Problem(Location(shown), "", "the Hub answered the whole file without its size (no Content-Range, no Content-Length)")])
                size, skip = int(length), start
            else:
                raise UsageError(f"the Hub answered {r.status_code} for {shown}; vramrules expected 206 Partial Content")
            want = end - start + 1
            got = bytearray()
            for chunk in r.iter_bytes():
                if skip:
                    drop = min(skip, len(chunk))
                    chunk, skip = chunk[drop:], skip - drop
                got += chunk
                if len(got) >= want:
                    break
        return bytes(got[:want]), size

    def remote_header(self, name: str, shown: str) -> tuple[dict, int]:
        """A safetensors header by two range requests: the 8-byte length, then the header."""
        raw, size = self.get_range(name, 0, 7)
        n = safetensors.header_length(raw, size, shown)
        text = self.get_range(name, 8, 8 + n - 1)[0] if n else b""
        self.memo["heads"][name] = {"size": size, "bytes": base64.b64encode(raw + text).decode("ascii")}
        return safetensors.decode_header(text, n, size, shown)

    def first_chunk(self, name: str):
        prefix, size = self.get_range(name, 0, FIRST_CHUNK - 1)
        return (prefix, size), lambda start, end: self.get_range(name, start, end)[0]

    # --- errors --------------------------------------------------------------------------------

    def offline(self) -> UsageError:
        return UsageError(f"{self.label} is not in the Hugging Face cache ({self.env.cache_dir}) and HF_HUB_OFFLINE is set: "
                          f"run once online to read its headers{self.cached_hint()}")

    def cached_hint(self) -> str:
        from huggingface_hub import scan_cache_dir

        try:
            repos = sorted(r.repo_id for r in scan_cache_dir(self.env.cache_dir).repos if r.repo_type == "model")
        except Exception:  # no cache, or one the library cannot read: nothing to suggest
            return ""
        if not repos:
            return ""
        from ..errors import closest

        near = closest(self.spec.repo, repos)
        return f" (cached: {', '.join(PREFIX + r for r in (near or repos)[:6])})"

    def mapped(self, exc: Exception) -> VramrulesError | None:  # noqa: C901 (one branch per exception of the library)
        """The vramrules error for what huggingface_hub or its HTTP client raised (None: a bug)."""
        from huggingface_hub import errors as E

        http = _client_module()

        it, where, doing = self.label, self.env.endpoint, self.doing
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, E.GatedRepoError):
            if status == 401:
                return UsageError(f"{it} is gated: set HF_TOKEN to a token of an account that has accepted its conditions on {where}/{self.spec.repo}")
            return UsageError(f"{it} is gated and HF_TOKEN's account has no access to it ({status}): ask for access on {where}/{self.spec.repo}")
        if isinstance(exc, E.DisabledRepoError):
            return UsageError(f"{it} is disabled on {where}")
        if isinstance(exc, E.RepositoryNotFoundError):
            return UsageError(f"no model {self.spec.repo} on {where} (or it is private and HF_TOKEN gives no access to it)"
                              f"{_catalog_hint(self.spec.repo)}")
        if isinstance(exc, E.RevisionNotFoundError):
            return UsageError(f"{PREFIX}{self.spec.repo} has no revision '{self.spec.revision}' on {where}")
        if isinstance(exc, E.LocalEntryNotFoundError):
            cause = exc.__cause__ or exc.__context__
            if cause is not None and not isinstance(cause, E.LocalEntryNotFoundError):
                inner = self.mapped(cause) if isinstance(cause, Exception) else None
                if inner is not None:
                    return inner
            return UsageError(f"{self.shown(doing)} could not be read from {where} and is not in the Hugging Face cache ({self.env.cache_dir})")
        if isinstance(exc, E.EntryNotFoundError):
            if self.listed:  # the repo's own listing named it: the repo is broken at this commit
                return DataError([Problem(Location(self.shown(doing)), "", f"the repo lists this file but {where} has none at commit {self.commit}",
                                          "the repo is incomplete at this revision; try another")])
            return UsageError(f"{it} has no file {doing}")
        if isinstance(exc, E.OfflineModeIsEnabled):
            return self.offline()
        if isinstance(exc, E.FileMetadataError):
            return UsageError(f"{where} does not answer as a Hugging Face Hub ({str(exc).splitlines()[0][:200]}); check HF_ENDPOINT")
        if isinstance(exc, E.HfHubHTTPError):
            if status == 416:
                return DataError([Problem(Location(self.shown(doing)), "", "the file is shorter than its header needs (the Hub answered 416 Range Not Satisfiable)",
                                          "the file is truncated, or not a model file")])
            if status == 401:
                return UsageError(f"{where} refused the credentials for {it} (401): check HF_TOKEN")
            if status == 403:
                return UsageError(f"{where} refused access to {it} (403 Forbidden): HF_TOKEN lacks the permission to read it")
            if status == 429:
                return UsageError(f"{where} is limiting requests (429 Too Many Requests): wait and try again, or set HF_TOKEN")
            return UsageError(f"{where} answered {status} for {self.shown(doing)}: try again later")
        if isinstance(exc, http.TimeoutException):
            return UsageError(f"{where} did not answer within {self.env.timeout:g} s while reading {self.shown(doing)}: "
                              "set HF_HUB_DOWNLOAD_TIMEOUT=SECONDS to wait longer, or HF_HUB_OFFLINE=1 to use only the cache")
        if isinstance(exc, http.RemoteProtocolError):
            return UsageError(f"the connection to {where} broke off while reading {self.shown(doing)}: try again")
        if isinstance(exc, (http.ConnectError, http.NetworkError, http.ProxyError)):
            return UsageError(f"cannot connect to {where} to read {it}: {_first_line(exc)}; check the network, or set HF_HUB_OFFLINE=1 to use only the cache")
        if isinstance(exc, http.HTTPError):
            return UsageError(f"cannot read {self.shown(doing)} from {where}: {_first_line(exc)}")
        if isinstance(exc, E.HFValidationError):
            return UsageError(f"'{self.spec.text}': {_first_line(exc)}")
        if isinstance(exc, OSError):  # writing the Hugging Face cache: a full disk, no permission
            return DataError([Problem(Location(self.env.cache_dir), "", f"cannot write the Hugging Face cache: {exc.strerror or _first_line(exc)}",
                                      "set HF_HOME or HF_HUB_CACHE to a folder you can write")])
        return None


def _client_module():
    """The HTTP client module huggingface_hub's session comes from (httpx2 today, httpx in 1.x),
    for its exception classes."""
    import importlib

    from huggingface_hub.utils import get_session

    return importlib.import_module(type(get_session()).__module__.split(".")[0])


def _sum(memo: dict) -> str:
    body = {k: v for k, v in memo.items() if k != "sum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _catalog_hint(repo: str) -> str:
    """'; the catalog has: ...' when catalog models are close to the repo's name."""
    try:
        from ..evaluation.load import load_catalog
        from ..reading.names import hub_ids

        models = load_catalog().kind("model")
    except VramrulesError:
        return ""
    from ..errors import closest

    owners = {r.lower(): mid for mid, e in models.items() for r in hub_ids(e)}
    near = []
    for r in closest(repo.lower(), owners):
        if owners[r] not in near:
            near.append(owners[r])
    return f"; catalog models near it: {', '.join(near)} (--model NAME)" if near else ""
