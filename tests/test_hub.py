"""--model hf:ORG/NAME, ollama:NAME:TAG, lmstudio:PUBLISHER/REPO (issue 14: any model on day one).

No test touches the network: a fake Hub on 127.0.0.1 (http.server in a thread) serves
/api/models/ORG/NAME[/revision/REV] and /ORG/NAME/resolve/REV/FILE with the real Hub's range
semantics (206 with Content-Range; 416 past the end), error headers (X-Error-Code: RepoNotFound,
GatedRepo, EntryNotFound, RevisionNotFound) and statuses (401/403/404), and records every
request. huggingface_hub is pointed at it with HF_ENDPOINT and a temporary HF_HOME; what the real
library raises on each failure is the contract vramrules maps to its exit codes. Ollama and LM
Studio folders are built in tmp_path with tiny GGUF files."""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest
import tiny_gguf
from click.testing import CliRunner

import vramrules
from vramrules.cli import main
from vramrules.errors import UsageError

pytest.importorskip("huggingface_hub")

REPO = "tiny-org/Tiny-Llama"
SHA = "a" * 40
SHA2 = "b" * 40
TOKEN = "hf_test_token_allowed"
CONFIG = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
          "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 256, "tie_word_embeddings": False,
          "torch_dtype": "bfloat16"}
SHARD1 = {"model.embed_tokens.weight": ("BF16", (100, 64)), "lm_head.weight": ("BF16", (100, 64))}
SHARD2 = {f"model.layers.{i}.{n}": ("BF16", s) for i in range(2) for n, s in
          [("self_attn.q_proj.weight", (64, 64)), ("self_attn.k_proj.weight", (32, 64)), ("self_attn.v_proj.weight", (32, 64)),
           ("self_attn.o_proj.weight", (64, 64)), ("mlp.gate_proj.weight", (128, 64)), ("mlp.up_proj.weight", (128, 64)),
           ("mlp.down_proj.weight", (64, 128)), ("input_layernorm.weight", (64,)), ("post_attention_layernorm.weight", (64,))]}
SHARD2["model.norm.weight"] = ("BF16", (64,))
PARAMS = 2 * 100 * 64 + 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 128 * 64 + 2 * 64) + 64


def safetensors_bytes(tensors: dict) -> bytes:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, (dtype, shape) in tensors.items():
        n = {"BF16": 2, "F16": 2, "F32": 4}[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def sharded_files() -> dict:
    index = {"metadata": {}, "weight_map": {**{k: "model-00001-of-00002.safetensors" for k in SHARD1},
                                           **{k: "model-00002-of-00002.safetensors" for k in SHARD2}}}
    return {"config.json": json.dumps(CONFIG).encode(), "model.safetensors.index.json": json.dumps(index).encode(),
            "model-00001-of-00002.safetensors": safetensors_bytes(SHARD1), "model-00002-of-00002.safetensors": safetensors_bytes(SHARD2),
            "README.md": b"# tiny\n"}


def gguf_bytes(tmp_path, name="tiny", layers=2, vocab=100, extra_kv=0) -> bytes:
    """A tiny llama GGUF written by the gguf package (tests/tiny_gguf.py)."""
    pytest.importorskip("gguf")
    return tiny_gguf.write(tmp_path / f"{name}-{layers}-{vocab}-{extra_kv}.gguf", layers=layers, vocab=vocab, name=name,
                           extra_kv=extra_kv).read_bytes()


GGUF_LINEAR = 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 128 * 64)
GGUF_STORED = 100 * 64 * 2 + GGUF_LINEAR // 32 * 34 + (2 * 2 + 1) * 64 * 4  # f16 embedding, Q8_0 blocks, f32 norms


def mmproj_bytes(tmp_path, name="mmproj-Tiny-F16.gguf") -> bytes:
    """A tiny vision projector as llama.cpp's convert_hf_to_gguf.py --mmproj writes one: architecture clip,
    clip.projector_type, a patch embedding, one encoder block's tensors and the projector (F16 and F32)."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / name
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_uint32("clip.vision.image_size", 896)
    w.add_uint32("clip.vision.patch_size", 14)
    w.add_tensor("v.patch_embd.weight", np.zeros((32, 3, 14, 14), dtype=np.float16))
    w.add_tensor("v.blk.0.attn_q.weight", np.zeros((32, 32), dtype=np.float16))
    w.add_tensor("v.blk.0.ln1.weight", np.zeros((32,), dtype=np.float32))
    w.add_tensor("mm.input_projection.weight", np.zeros((64, 32), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


MMPROJ_PARAMS = 32 * 3 * 14 * 14 + 32 * 32 + 32 + 64 * 32
MMPROJ_STORED = (32 * 3 * 14 * 14 + 32 * 32 + 64 * 32) * 2 + 32 * 4


# --- the fake Hub ------------------------------------------------------------------------------

class FakeHub:
    """Repos: {repo: {"sha", "files": {name: bytes}, "gated": bool, "revisions": {ref: sha}}}; knobs
    per repo: "slow_api" / "slow_ranges" (seconds before answering /api/models or a range request),
    "short" (206 bodies cut to this many bytes),
    "no_range" (answer 200 with the whole file). `requests`: (method, path, Range header)."""

    def __init__(self):
        self.repos: dict = {}
        self.requests: list = []
        self.lock = threading.Lock()

    def add(self, repo, files, sha=SHA, **knobs):
        self.repos[repo] = {"sha": sha, "files": files, "revisions": {"main": sha}, **knobs}

    def served(self, suffix="") -> list:
        return [r for r in self.requests if r[1].endswith(suffix)]

    def ranges(self) -> list:
        return [r for r in self.requests if r[2]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _error(self, status, code, message="", head=False, extra=None):
        headers = {"X-Error-Code": code, "X-Error-Message": message or code, "Content-Type": "application/json", **(extra or {})}
        self._send(status, json.dumps({"error": message or code}).encode(), headers, head)

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)

    def _route(self, head):
        path = unquote(urlsplit(self.path).path)
        with self.hub.lock:
            self.hub.requests.append((self.command, path, self.headers.get("Range")))
        m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/(.+))?$", path)
        if m:
            return self._info(m.group(1), m.group(2) or "main", head)
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m:
            return self._file(m.group(1), m.group(2), m.group(3), head)
        self._send(404, b"not found", head=head)

    def _repo(self, repo, rev, head):
        r = self.hub.repos.get(repo)
        if r is None:
            self._error(404, "RepoNotFound", "Repository not found", head)
            return None, None
        sha = rev if rev in r["revisions"].values() else r["revisions"].get(rev)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return None, None
        return r, sha

    def _info(self, repo, rev, head):
        r, sha = self._repo(repo, rev, head)
        if r is None:
            return
        if r.get("slow_api"):
            time.sleep(r["slow_api"])
        body = {"id": repo, "sha": sha, "private": False, "gated": "manual" if r.get("gated") else False,
                "siblings": [{"rfilename": n} for n in sorted(r["files"])]}
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _file(self, repo, rev, name, head):
        r, sha = self._repo(repo, rev, head)
        if r is None:
            return
        if r.get("gated"):
            auth = self.headers.get("Authorization", "")
            if not auth:
                return self._error(401, "GatedRepo", f"Access to model {repo} is restricted. You must be authenticated to access it.", head)
            if auth != f"Bearer {TOKEN}":
                return self._error(403, "GatedRepo", f"Access to model {repo} is restricted and you are not in the authorized list.", head)
        if r.get("slow_ranges") and self.headers.get("Range"):
            time.sleep(r["slow_ranges"])
        data = r["files"].get(name)
        if data is None:
            return self._error(404, "EntryNotFound", f"{name} does not exist on \"{rev}\"", head, {"X-Repo-Commit": sha})
        common = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()[:40]}"', "Accept-Ranges": "bytes"}
        want = self.headers.get("Range")
        if want and not r.get("no_range") and not head:
            m = re.match(r"^bytes=(\d+)-(\d*)$", want)
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return self._send(416, b"", {**common, "Content-Range": f"bytes */{len(data)}"})
            body = data[start:end + 1]
            if r.get("short") is not None:
                body = body[: r["short"]]
            return self._send(206, body, {**common, "Content-Range": f"bytes {start}-{end}/{len(data)}"})
        self._send(200, data, common, head)


def _handler(hub: FakeHub):
    return type("BoundHandler", (Handler,), {"hub": hub})


@pytest.fixture
def hub(tmp_path, monkeypatch):
    fake = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    server.handle_error = lambda request, address: None  # a client that hangs up early (it read what it needed) is no error
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    for var in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "5")
    monkeypatch.setenv("VRAMRULES_CACHE_DIR", str(tmp_path / "vramrules-cache"))
    yield fake
    server.shutdown()
    server.server_close()


def run(*args):
    return CliRunner().invoke(main, list(args))


def data_of(*args) -> dict:
    r = run(*args, "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def weights(doc: dict) -> int:
    return next(c for c in doc["components"] if c["name"] == "weights")["memory"]["bytes"]


# --- safetensors on the Hub --------------------------------------------------------------------

def test_hf_reads_config_and_only_the_safetensors_headers(hub):
    files = sharded_files()
    hub.add(REPO, files)
    doc = data_of("eval", "--model", f"hf:{REPO}", "--gpu", "l4")
    assert doc["model"]["id"] == "hf-tiny-llama" and doc["model"]["name"] == REPO
    assert weights(doc) == PARAMS * 2  # bf16 as stored
    # the index and config through hf_hub_download; each shard: 8 bytes, then its header, never tensor data
    shards = [n for n in files if n.endswith(".safetensors")]
    for name in shards:
        got = [rng for m, p, rng in hub.requests if p.endswith(name)]
        n = struct.unpack("<Q", files[name][:8])[0]
        assert got == ["bytes=0-7", f"bytes=8-{8 + n - 1}"], got
    assert not any(p.endswith("README.md") for _m, p, _r in hub.requests)
    m = vramrules.evaluate(f"hf:{REPO}", needed=False).scenario.model
    assert m.raw["params"] == PARAMS and f"at commit {SHA}" in m.raw["params_source"]
    assert m.raw["source"] == f"{hub.url}/{REPO}/blob/{SHA}/config.json (imported by vramrules)"


def test_a_second_read_and_an_offline_one_make_no_request(hub, monkeypatch):
    hub.add(REPO, sharded_files())
    first = data_of("eval", "--model", f"hf:{REPO}")
    hub.requests.clear()
    assert data_of("eval", "--model", f"hf:{REPO}") == first
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data_of("eval", "--model", f"hf:{REPO}") == first
    assert hub.requests == []


def test_a_model_already_in_the_hugging_face_cache_is_read_from_disk(hub, tmp_path, monkeypatch):
    """Downloaded by any tool (here hf_hub_download, as `hf download` does): no request at all,
    online or offline, and without vramrules' own memo of headers."""
    from huggingface_hub import hf_hub_download

    files = sharded_files()
    hub.add(REPO, files)
    for name in files:
        hf_hub_download(REPO, name, cache_dir=str(tmp_path / "hf-home" / "hub"), endpoint=hub.url)
    hub.requests.clear()
    monkeypatch.setenv("VRAMRULES_NO_CACHE", "1")
    doc = data_of("eval", "--model", f"hf:{REPO}")
    assert weights(doc) == PARAMS * 2 and hub.requests == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data_of("eval", "--model", f"hf:{REPO}") == doc and hub.requests == []
    m = vramrules.evaluate(f"hf:{REPO}", needed=False).scenario.model
    assert "from the Hugging Face cache" in m.raw["params_source"]


def test_single_file_checkpoint_and_a_revision(hub):
    files = {"config.json": json.dumps(CONFIG).encode(), "model.safetensors": safetensors_bytes({**SHARD1, **SHARD2})}
    hub.add(REPO, files)
    hub.repos[REPO]["revisions"]["v1"] = SHA2
    doc = data_of("eval", "--model", f"hf:{REPO}@v1")
    assert weights(doc) == PARAMS * 2
    assert any(p == f"/api/models/{REPO}/revision/v1" for _m, p, _r in hub.requests)
    assert any(p.startswith(f"/{REPO}/resolve/{SHA2}/") for _m, p, _r in hub.requests)  # everything at the commit the ref named


def test_config_only_repo_derives_the_parameter_count(hub):
    hub.add(REPO, {"config.json": json.dumps(CONFIG).encode(), "pytorch_model.bin": b"x"})
    m = vramrules.evaluate(f"hf:{REPO}", needed=False).scenario.model
    assert m.raw["params_source"].startswith("derived:") and m.raw["params"] == PARAMS
    assert not hub.ranges()


def test_fit_and_the_api_take_hf_names(hub):
    hub.add(REPO, sharded_files())
    r = run("fit", "--model", f"hf:{REPO}", "--gpu", "l4", "--max", "seq-len")
    assert r.exit_code == 0, r.output
    j = json.loads(run("fit", "--model", f"hf:{REPO}", "--gpu", "l4", "--max", "seq-len", "--format", "json").output)
    assert j["checks"]  # the answer is the model's context limit here: one check, no answer + 1
    for check in j["checks"]:  # pasted, each check reads the same Hub model (not the imported id)
        assert check["argv"][check["argv"].index("--model") + 1] == f"hf:{REPO}"
        again = run(*check["argv"], "--format", "json")
        assert json.loads(again.output)["fit"]["fits"] is (check["expect"] == "fits"), (check, again.output)
    r = vramrules.evaluate(f"hf:{REPO}", mode="train-lora", gpu="l4")
    assert r.fit.fits


# --- errors: the library's exceptions, mapped ----------------------------------------------------

def _fails(code: int, *words, args=()):
    r = run("eval", "--model", *args)
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    return r.output


def test_unknown_repo_is_a_usage_error(hub):
    _fails(2, "no model nobody/Nothing-7B on", "HF_TOKEN", args=["hf:nobody/Nothing-7B"])
    j = run("eval", "--model", "hf:nobody/Nothing-7B", "--format", "json")
    assert j.exit_code == 2 and json.loads(j.output)[0]["code"] == "usage_error"


def test_unknown_revision_and_file(hub):
    hub.add(REPO, sharded_files())
    _fails(2, "has no revision 'nope'", args=[f"hf:{REPO}@nope"])
    _fails(2, "has no file missing.gguf", args=[f"hf:{REPO}:missing.gguf"])


def test_gated_repo_without_and_with_a_token(hub, monkeypatch):
    hub.add(REPO, sharded_files(), gated=True)
    monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
    _fails(2, f"hf:{REPO} is gated", "no access", args=[f"hf:{REPO}"])
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    doc = data_of("eval", "--model", f"hf:{REPO}")
    assert weights(doc) == PARAMS * 2


def test_gated_repo_anonymously(hub, monkeypatch):
    from huggingface_hub import constants

    hub.add(REPO, sharded_files(), gated=True)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", "/nonexistent/token")  # no token stored on this machine counts
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", "/nonexistent/stored_tokens")
    _fails(2, f"hf:{REPO} is gated", "set HF_TOKEN", args=[f"hf:{REPO}"])


def test_offline_without_a_cache(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _fails(2, "not in the Hugging Face cache", "HF_HUB_OFFLINE", args=[f"hf:{REPO}"])
    assert hub.requests == []


def test_import_writes_a_hub_model_into_an_overlay(hub, tmp_path, monkeypatch):
    """`vramrules import hf:ORG/NAME` (issue 14): the entry --model hf: reads, printed or appended
    to --into atomically; an existing id needs --force; offline it reads the cache or fails with
    exit 2 and writes nothing."""
    hub.add(REPO, sharded_files())
    target = tmp_path / "org" / "models.yaml"
    target.parent.mkdir()
    r = run("import", f"hf:{REPO}")
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"# vramrules import hf:{REPO}\nmodels:\n  hf-tiny-llama:\n")
    assert f"checkpoint_params: {PARAMS}\n" in r.output and f"name: {REPO}\n" in r.output
    r = run("import", f"hf:{REPO}", "--into", str(target))
    assert r.exit_code == 0 and f"added model 'hf-tiny-llama' to {target}" in r.output, r.output
    first = target.read_text(encoding="utf-8")
    r = run("import", f"hf:{REPO}", "--into", str(target))
    assert r.exit_code == 2 and "already has a model 'hf-tiny-llama'" in r.output, r.output
    assert target.read_text(encoding="utf-8") == first
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what the first import read is in the caches
    assert run("import", f"hf:{REPO}", "--into", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8") == first and hub.requests == []
    assert run("import", f"hf:{REPO}", "--id", "tiny-two", "--into", str(target)).exit_code == 0
    # the overlay holds both, and evaluates as the hf: name does: PARAMS bf16 weights
    doc = data_of("eval", "--model", "tiny-two", "--data", str(target.parent))
    assert weights(doc) == PARAMS * 2 and doc["model"]["name"] == REPO
    other = "tiny-org/Not-Cached"
    r = run("import", f"hf:{other}", "--into", str(tmp_path / "new.yaml"))
    assert r.exit_code == 2 and "not in the Hugging Face cache" in r.output and "HF_HUB_OFFLINE" in r.output, r.output
    assert "Traceback" not in r.output and not (tmp_path / "new.yaml").exists()
    r = run("import", "hf:not a repo")
    assert r.exit_code == 2 and "does not name a Hugging Face repo" in r.output


def test_import_of_an_ollama_model_and_a_missing_path(tmp_path, monkeypatch):
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    _ollama(root, "tiny", "1b", gguf_bytes(tmp_path))
    r = run("import", "ollama:tiny:1b")
    assert r.exit_code == 0 and "  ollama-tiny-1b:\n" in r.output and f"checkpoint_bytes: {GGUF_STORED} B" in r.output, r.output
    r = run("import", str(tmp_path / "nothing-here"))
    assert r.exit_code == 2 and "nothing-here: no such file or folder" in r.output


@pytest.mark.parametrize("knob,reading", [("slow_api", "the model's file list"), ("slow_ranges", "model-00001-of-00002.safetensors")])
def test_a_slow_hub_times_out(hub, monkeypatch, knob, reading):
    hub.add(REPO, sharded_files(), **{knob: 3})
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "1")  # whole seconds: huggingface_hub reads it as an integer
    _fails(2, "did not answer within 1 s", reading, "HF_HUB_DOWNLOAD_TIMEOUT", args=[f"hf:{REPO}"])


def test_nothing_listens(hub, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    _fails(2, "cannot connect to", args=[f"hf:{REPO}"])


def test_a_truncated_header_is_a_broken_file(hub):
    files = sharded_files()
    whole = files["model-00002-of-00002.safetensors"]
    n = struct.unpack("<Q", whole[:8])[0]
    files["model-00002-of-00002.safetensors"] = whole[: 8 + n // 2]  # the file ends inside its header
    hub.add(REPO, files)
    _fails(1, "model-00002-of-00002.safetensors", "the header claims", "truncated", args=[f"hf:{REPO}"])


def test_a_cut_short_answer_is_a_broken_file(hub):
    hub.add(REPO, sharded_files(), short=100)
    _fails(1, "model-00001-of-00002.safetensors", "the header claims", args=[f"hf:{REPO}"])


def test_a_file_too_short_for_a_range_is_a_broken_file(hub):
    files = sharded_files()
    files["model-00001-of-00002.safetensors"] = b""  # bytes=0-7 of an empty file: 416
    hub.add(REPO, files)
    _fails(1, "model-00001-of-00002.safetensors", "416", args=[f"hf:{REPO}"])
    assert any(r for r in hub.requests if r[2] == "bytes=0-7")


def test_index_naming_a_shard_the_repo_lacks(hub):
    files = sharded_files()
    del files["model-00002-of-00002.safetensors"]
    hub.add(REPO, files)
    _fails(1, "the index names shards that the repo does not hold", args=[f"hf:{REPO}"])


def test_a_server_that_ignores_ranges_is_read_only_as_far_as_needed(hub):
    hub.add(REPO, sharded_files(), no_range=True)
    assert weights(data_of("eval", "--model", f"hf:{REPO}")) == PARAMS * 2


def test_malformed_hf_names(hub):
    for bad in ["hf:", "hf:/x", "hf:a/b/c", "hf:a/b@", "hf:a/b:../x.gguf", "hf:a--b/c", "hf:a/b:x:y"]:
        _fails(2, args=[bad])
    assert hub.requests == []


def test_config_errors_are_located_in_the_repo(hub):
    hub.add(REPO, {"config.json": b'{"model_type": "llama",\n  "hidden_size": }'})
    _fails(1, f"hf:{REPO}/config.json:2:18", args=[f"hf:{REPO}"])


# --- GGUF on the Hub ---------------------------------------------------------------------------

def test_hf_gguf_by_file_and_by_quant_reads_only_the_header(hub, tmp_path):
    q8 = gguf_bytes(tmp_path, extra_kv=40_000)  # about 640 KB of metadata: several range requests
    q4 = gguf_bytes(tmp_path, name="other", layers=1)
    hub.add("tiny-org/Tiny-GGUF", {"tiny-Q8_0.gguf": q8 + bytes(8 << 20), "tiny-Q4_K_M.gguf": q4, "README.md": b""})
    for spelling in ["hf:tiny-org/Tiny-GGUF:tiny-Q8_0.gguf", "hf:tiny-org/Tiny-GGUF:Q8_0", "hf:tiny-org/Tiny-GGUF:q8_0"]:
        hub.requests.clear()
        m = vramrules.evaluate(spelling, needed=False, precision="native")
        assert m.component("weights").memory.bytes == GGUF_STORED
        if spelling.endswith(".gguf"):
            fetched = 0
            for _m, _p, rng in hub.ranges():
                a, b = map(int, rng[len("bytes="):].split("-"))
                fetched += b - a + 1
            assert len(hub.ranges()) >= 2 and fetched < len(q8) + (4 << 20)  # the header, never the 8 MiB after it
    r = run("eval", "--model", "hf:tiny-org/Tiny-GGUF")
    assert r.exit_code == 2 and "holds 2 GGUF models" in r.output and "hf:tiny-org/Tiny-GGUF:" in r.output


def test_hf_gguf_is_kept_for_offline_use(hub, tmp_path, monkeypatch):
    hub.add("tiny-org/Tiny-GGUF", {"tiny-Q8_0.gguf": gguf_bytes(tmp_path)})
    first = data_of("eval", "--model", "hf:tiny-org/Tiny-GGUF")
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data_of("eval", "--model", "hf:tiny-org/Tiny-GGUF") == first and hub.requests == []


def test_hf_gguf_loads_the_repos_mmproj_as_llama_server_does(hub, tmp_path, monkeypatch):
    """llama-server -hf downloads a vision repo's mmproj file with the model (common/arg.cpp): its header is read by
    range requests too, and kept for offline use; --no-mmproj leaves it out."""
    hub.add("tiny-org/Tiny-Vision-GGUF", {"tiny-Q8_0.gguf": gguf_bytes(tmp_path), "mmproj-Tiny-F16.gguf": mmproj_bytes(tmp_path) + bytes(4 << 20),
                                           "mmproj-Tiny-F32.gguf": mmproj_bytes(tmp_path, "f32.gguf")})
    r = vramrules.evaluate("hf:tiny-org/Tiny-Vision-GGUF", needed=False, precision="native")
    assert r.component("projector_weights").memory.bytes == MMPROJ_STORED
    block = r.scenario.model.raw["projector"]
    assert block["projector_type"] == "gemma3" and block["source"].endswith("/mmproj-Tiny-F16.gguf")
    fetched = sum(int(b) - int(a) + 1 for _m, _p, rng in hub.ranges() for a, b in [rng[len("bytes="):].split("-")])
    assert fetched < 4 << 20  # the headers, never the file
    assert "projector_weights" not in [c.name for c in vramrules.evaluate("hf:tiny-org/Tiny-Vision-GGUF", needed=False, mmproj=False).components]
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = vramrules.evaluate("hf:tiny-org/Tiny-Vision-GGUF", needed=False, precision="native")
    assert again.component("projector_weights").memory.bytes == MMPROJ_STORED and hub.requests == []



def test_a_gguf_repo_in_the_hugging_face_cache_brings_its_mmproj(hub, tmp_path, monkeypatch):
    """A vision GGUF repo downloaded whole (hf download, llama-server -hf): the model and its mmproj read from disk."""
    from huggingface_hub import hf_hub_download

    hub.add("tiny-org/Tiny-Vision-GGUF", {"tiny-Q8_0.gguf": gguf_bytes(tmp_path), "mmproj-Tiny-F16.gguf": mmproj_bytes(tmp_path)})
    for name in ("tiny-Q8_0.gguf", "mmproj-Tiny-F16.gguf"):
        hf_hub_download("tiny-org/Tiny-Vision-GGUF", name, cache_dir=str(tmp_path / "hf-home" / "hub"), endpoint=hub.url)
    hub.requests.clear()
    monkeypatch.setenv("VRAMRULES_NO_CACHE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = vramrules.evaluate("hf:tiny-org/Tiny-Vision-GGUF", needed=False, precision="native")
    assert r.component("projector_weights").memory.bytes == MMPROJ_STORED and hub.requests == []
    assert r.scenario.model.raw["projector"]["source"].endswith("mmproj-Tiny-F16.gguf")


def test_hf_gguf_truncated(hub, tmp_path):
    whole = gguf_bytes(tmp_path)
    hub.add("tiny-org/Tiny-GGUF", {"tiny-Q8_0.gguf": whole[:200]})
    _fails(1, "tiny-Q8_0.gguf", "past the end of the file", args=["hf:tiny-org/Tiny-GGUF:Q8_0"])


# --- Hub aliases of catalog models -----------------------------------------------------------------

def test_hub_alias_needs_no_network(hub):
    r = vramrules.evaluate("meta-llama/Llama-3.1-8B-Instruct", needed=False)
    assert r.scenario.model.id == "llama3.1-8b" and hub.requests == []
    with pytest.raises(UsageError, match="hf:someone/Tiny"):
        vramrules.evaluate("someone/Tiny", needed=False)


# --- Ollama ------------------------------------------------------------------------------------

def _ollama(root, name, tag, blob: bytes, ns="library", host="registry.ollama.ai", size=None, projector: bytes | None = None):
    digest = hashlib.sha256(blob).hexdigest()
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(blob)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "0" * 64, "size": 2},
                "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}", "size": size or len(blob)},
                           {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "1" * 64, "size": 10}]}
    if projector is not None:
        pd = hashlib.sha256(projector).hexdigest()
        (root / "blobs" / f"sha256-{pd}").write_bytes(projector)
        manifest["layers"].append({"mediaType": "application/vnd.ollama.image.projector", "digest": f"sha256:{pd}", "size": len(projector)})
    folder = root / "manifests" / host / ns / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / tag).write_text(json.dumps(manifest))


def test_ollama_models_by_name(tmp_path, monkeypatch):
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    blob = gguf_bytes(tmp_path)
    _ollama(root, "tiny", "1b", blob)
    _ollama(root, "tiny", "latest", blob)
    _ollama(root, "mine", "q8", blob, ns="someone")
    _ollama(root, "Tiny-GGUF", "Q8_0", blob, ns="org", host="hf.co")  # `ollama pull hf.co/org/Tiny-GGUF:Q8_0`
    for spelling in ["ollama:tiny:1b", "ollama:tiny", "ollama:someone/mine:q8", "ollama:TINY:1B", "ollama:hf.co/org/Tiny-GGUF:Q8_0"]:
        r = vramrules.evaluate(spelling, needed=False)
        assert r.component("weights").memory.bytes == GGUF_STORED, spelling
    m = vramrules.evaluate("ollama:tiny:1b", needed=False).scenario.model
    assert m.id == "ollama-tiny-1b" and "ollama:tiny:1b" in m.raw["params_source"]
    out = _fails(2, "no Ollama model 'tiny:2b'", "installed: hf.co/org/Tiny-GGUF:Q8_0, someone/mine:q8, tiny:1b, tiny:latest",
                 args=["ollama:tiny:2b"])
    assert "ollama:tiny:1b" in out  # the closest, spelled to paste


def test_ollama_problems(tmp_path, monkeypatch):
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    _fails(2, "holds no models", "OLLAMA_MODELS", args=["ollama:tiny"])
    blob = gguf_bytes(tmp_path)
    _ollama(root, "partial", "latest", blob, size=len(blob) + 1)
    _fails(1, "the blob holds", "ollama pull partial:latest", args=["ollama:partial"])
    _ollama(root, "gone", "latest", blob)
    for p in (root / "blobs").iterdir():
        p.unlink()
    _fails(1, "is not in", "ollama pull gone:latest", args=["ollama:gone"])
    for bad in ["ollama:", "ollama:../x", "ollama:a/b/c/d", "ollama:x:"]:
        _fails(2, args=[bad])


def test_ollama_default_folder_is_in_home(tmp_path, monkeypatch):
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    _ollama(tmp_path / ".ollama" / "models", "tiny", "latest", gguf_bytes(tmp_path))
    assert vramrules.evaluate("ollama:tiny", needed=False).component("weights").memory.bytes == GGUF_STORED


# --- LM Studio ---------------------------------------------------------------------------------

def test_lmstudio_models_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    blob = gguf_bytes(tmp_path)
    one = tmp_path / ".lmstudio" / "models" / "lmstudio-community" / "Tiny-GGUF"
    one.mkdir(parents=True)
    (one / "Tiny-Q8_0.gguf").write_bytes(blob)
    (one / "mmproj-Tiny-F16.gguf").write_bytes(mmproj_bytes(tmp_path))  # a vision projector beside it is not the model
    two = tmp_path / ".cache" / "lm-studio" / "models" / "someone" / "Two-GGUF"  # the older folder
    two.mkdir(parents=True)
    (two / "Two-Q8_0.gguf").write_bytes(blob)
    (two / "Two-Q4_K_M.gguf").write_bytes(gguf_bytes(tmp_path, name="q4", layers=1))
    for spelling in ["lmstudio:lmstudio-community/Tiny-GGUF", "lmstudio:Tiny-GGUF", "lmstudio:someone/Two-GGUF:Q8_0",
                     "lmstudio:someone/Two-GGUF/Two-Q8_0.gguf"]:
        assert vramrules.evaluate(spelling, needed=False).component("weights").memory.bytes == GGUF_STORED, spelling
    _fails(2, "holds 2 GGUF models", "lmstudio:someone/Two-GGUF:Q", args=["lmstudio:someone/Two-GGUF"])
    _fails(2, "no LM Studio model 'nobody/Nothing'", "installed: lmstudio-community/Tiny-GGUF, someone/Two-GGUF", args=["lmstudio:nobody/Nothing"])
    _fails(2, "no file Two-Q2_K.gguf", args=["lmstudio:someone/Two-GGUF/Two-Q2_K.gguf"])


def split_gguf(folder, tmp_path, stem="Split-Q8_0") -> list:
    """The tiny model as gguf-split writes it, in two parts: the first holds the metadata, each
    part about half the tensors; returns the parts' paths."""
    gguf = pytest.importorskip("gguf")
    import numpy as np

    from vramrules.importers.gguf_file import scan

    (tmp_path / "whole.gguf").write_bytes(gguf_bytes(tmp_path))
    _meta, tensors = scan(tmp_path / "whole.gguf")
    names = [t["name"] for t in tensors]
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    paths = []
    for i, part in enumerate(halves):
        path = folder / f"{stem}-{i + 1:05d}-of-00002.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_uint16("split.no", i)
        w.add_uint16("split.count", 2)
        if i == 0:
            w.add_name("split")
            w.add_block_count(2)
            w.add_embedding_length(64)
            w.add_head_count(4)
            w.add_head_count_kv(2)
            w.add_context_length(256)
            w.add_feed_forward_length(128)
        for t in tensors:
            if t["name"] not in part:
                continue
            if t["type"] == "Q8_0":
                w.add_tensor(t["name"], np.zeros((t["dims"][1], t["dims"][0] // 32 * 34), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            else:
                w.add_tensor(t["name"], np.zeros(tuple(reversed(t["dims"])), dtype=np.float16 if t["type"] == "F16" else np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        paths.append(path)
    return paths


def test_lmstudio_split_gguf_counts_every_part(tmp_path, monkeypatch):
    """A model split by gguf-split: the first part holds the metadata, every part its tensors."""
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = tmp_path / ".lmstudio" / "models" / "pub" / "Split-GGUF"
    folder.mkdir(parents=True)
    split_gguf(folder, tmp_path)
    r = vramrules.evaluate("lmstudio:pub/Split-GGUF", needed=False)
    assert r.component("weights").memory.bytes == GGUF_STORED
    _fails(2, "part 2 of a split model", "Split-Q8_0-00001-of-00002.gguf", args=["lmstudio:pub/Split-GGUF/Split-Q8_0-00002-of-00002.gguf"])
    (folder / "Split-Q8_0-00002-of-00002.gguf").unlink()
    _fails(1, "part 2 of the 2 parts", args=["lmstudio:pub/Split-GGUF"])


def test_the_mmproj_beside_a_gguf_model_is_its_vision_tower(tmp_path, monkeypatch):
    """A vision model's mmproj file (llama.cpp: the encoder and projector, as convert_hf_to_gguf.py --mmproj writes
    it) beside the model is loaded with it, as llama-server -hf and LM Studio do: its tensors' bytes are a component of
    their own, in the default and the llama.cpp rule sets; --no-mmproj leaves it out. Ollama stores it as the
    manifest's projector layer."""
    folder = tmp_path / "gemma-ish"
    folder.mkdir()
    (folder / "Tiny-Q8_0.gguf").write_bytes(gguf_bytes(tmp_path))
    (folder / "mmproj-Tiny-F16.gguf").write_bytes(mmproj_bytes(tmp_path))
    (folder / "mmproj-Tiny-F32.gguf").write_bytes(mmproj_bytes(tmp_path, "other.gguf"))  # two: the F16 one is picked
    doc = data_of("eval", "--model-config", str(folder / "Tiny-Q8_0.gguf"))
    parts = {c["name"]: c["memory"]["bytes"] for c in doc["components"]}
    assert parts["weights"] == GGUF_STORED and parts["projector_weights"] == MMPROJ_STORED
    r = vramrules.evaluate(mode="inference", model_config=str(folder / "Tiny-Q8_0.gguf"), needed=False)
    block = r.scenario.model.raw["projector"]
    assert block["checkpoint_params"] == MMPROJ_PARAMS and block["projector_type"] == "gemma3" and block["image_size"] == 896
    assert block["source"].endswith("mmproj-Tiny-F16.gguf")
    text_only = data_of("eval", "--model-config", str(folder / "Tiny-Q8_0.gguf"), "--no-mmproj")
    assert "projector_weights" not in [c["name"] for c in text_only["components"]]
    assert text_only["total"]["bytes"] < doc["total"]["bytes"]
    llama = data_of("eval", "--model-config", str(folder / "Tiny-Q8_0.gguf"), "--rules", "llamacpp")
    assert {c["name"]: c["memory"]["bytes"] for c in llama["components"]}["projector_weights"] == MMPROJ_STORED
    # on the GPU: in the busiest GPU's need (the verdict), on the first GPU only of a split (clip.cpp: CUDA0)
    text = vramrules.evaluate(mode="inference", model_config=str(folder / "Tiny-Q8_0.gguf"), rules="llamacpp", gpu="rtx-4090", mmproj=False)
    one = vramrules.evaluate(mode="inference", model_config=str(folder / "Tiny-Q8_0.gguf"), rules="llamacpp", gpu="rtx-4090")
    assert one.values["per_gpu_total"] - text.values["per_gpu_total"] == MMPROJ_STORED
    two = vramrules.evaluate(mode="inference", model_config=str(folder / "Tiny-Q8_0.gguf"), rules="llamacpp", gpu="rtx-4090,rtx-3090")
    assert two.values["device_projector_weights"] == [MMPROJ_STORED, 0]
    plan = two.device_plan()
    assert [dict((n, b) for n, _l, b in d["components"]).get("projector_weights") for d in plan] == [MMPROJ_STORED, 0]
    # LM Studio: the same folder
    monkeypatch.setenv("HOME", str(tmp_path))
    studio = tmp_path / ".lmstudio" / "models" / "pub" / "Tiny-GGUF"
    studio.mkdir(parents=True)
    (studio / "Tiny-Q8_0.gguf").write_bytes(gguf_bytes(tmp_path))
    (studio / "mmproj-Tiny-F16.gguf").write_bytes(mmproj_bytes(tmp_path))
    assert vramrules.evaluate("lmstudio:pub/Tiny-GGUF", needed=False).component("projector_weights").memory.bytes == MMPROJ_STORED
    # Ollama: the projector layer of the manifest
    root = tmp_path / "ollama"
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    _ollama(root, "tiny-vision", "1b", gguf_bytes(tmp_path), projector=mmproj_bytes(tmp_path))
    _ollama(root, "tiny", "1b", gguf_bytes(tmp_path))
    assert vramrules.evaluate("ollama:tiny-vision:1b", needed=False).component("projector_weights").memory.bytes == MMPROJ_STORED
    assert "projector_weights" not in [c.name for c in vramrules.evaluate("ollama:tiny:1b", needed=False).components]
    # a file beside the model that calls itself mmproj but is not a projector is an error that names it
    (folder / "mmproj-Tiny-F16.gguf").write_bytes(gguf_bytes(tmp_path))
    r = run("eval", "--model-config", str(folder / "Tiny-Q8_0.gguf"))
    assert r.exit_code == 1 and "mmproj-Tiny-F16.gguf: /general.architecture: is 'llama', not the 'clip' of a multimodal projector" in r.output, r.output


def test_a_local_split_gguf_is_every_part_or_an_error(tmp_path):
    """--model-config and import given the first part of a split read every part beside it (they
    read only the first: 52,480 B of the tiny model's 92,416 B of tensors, with no warning); a later
    part names the first; a missing part, or a renamed part whose split.count says 2, is an error."""
    folder = tmp_path / "split"
    folder.mkdir()
    first, second = split_gguf(folder, tmp_path)
    doc = data_of("eval", "--model-config", str(first))
    assert weights(doc) == GGUF_STORED == 92416 and doc["model"]["id"] == "split-q8-0"
    r = run("import", str(first))
    assert r.exit_code == 0 and f"checkpoint_bytes: {GGUF_STORED} B" in r.output and "and its 1 other part(s)" in r.output, r.output
    r = run("eval", "--model-config", str(second))
    assert r.exit_code == 2 and "part 2 of a split model: give its first part" in r.output and str(first) in r.output, r.output
    renamed = tmp_path / "renamed.gguf"
    first.rename(renamed)
    r = run("eval", "--model-config", str(renamed))
    assert r.exit_code == 1 and "renamed.gguf: /split.count: the file says the model is split over 2 files, but 1 were found" in r.output, r.output
    renamed.rename(first)
    second.unlink()
    r = run("eval", "--model-config", str(first))
    assert r.exit_code == 1 and "Split-Q8_0-00002-of-00002.gguf: part 2 of the 2 parts of Split-Q8_0-00001-of-00002.gguf is missing" in r.output, r.output
    assert "Traceback" not in r.output


def test_hf_split_gguf_in_a_subfolder(hub, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    files = {f"Q8_0/{p.name}": p.read_bytes() for p in split_gguf(folder, tmp_path, stem="tiny-Q8_0")}
    hub.add("tiny-org/Tiny-GGUF", {**files, "tiny-Q4_K_M.gguf": gguf_bytes(tmp_path, name="q4", layers=1)})
    r = vramrules.evaluate("hf:tiny-org/Tiny-GGUF:Q8_0", needed=False)
    assert r.component("weights").memory.bytes == GGUF_STORED
    assert {p for _m, p, _r in hub.ranges()} == {f"/tiny-org/Tiny-GGUF/resolve/{SHA}/{n}" for n in files}


def test_hf_gguf_already_in_the_hugging_face_cache(hub, tmp_path, monkeypatch):
    from huggingface_hub import hf_hub_download

    hub.add("tiny-org/Tiny-GGUF", {"tiny-Q8_0.gguf": gguf_bytes(tmp_path)})
    hf_hub_download("tiny-org/Tiny-GGUF", "tiny-Q8_0.gguf", cache_dir=str(tmp_path / "hf-home" / "hub"), endpoint=hub.url)
    hub.requests.clear()
    monkeypatch.setenv("VRAMRULES_NO_CACHE", "1")
    for spelling in ["hf:tiny-org/Tiny-GGUF", "hf:tiny-org/Tiny-GGUF:Q8_0", "hf:tiny-org/Tiny-GGUF:tiny-Q8_0.gguf"]:
        assert vramrules.evaluate(spelling, needed=False).component("weights").memory.bytes == GGUF_STORED
    assert hub.requests == []


# --- the warm path -----------------------------------------------------------------------------

def test_catalog_names_never_import_the_hub_client(tmp_path):
    code = ("import sys; from vramrules.cli import main; sys.argv=['vramrules','eval','--model','llama3-70b'];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', [m for m in ('huggingface_hub', 'httpx2', 'vramrules.importers.hub', 'vramrules.importers.local_models')"
            " if m in sys.modules], file=sys.stderr)")
    env = {**os.environ, "VRAMRULES_CACHE_DIR": str(tmp_path)}
    for _ in range(2):  # cold, then warm
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert "LOADED []" in r.stderr, r.stderr


def test_without_the_hub_extra_an_hf_name_says_what_to_install(tmp_path):
    """huggingface_hub is the optional `hub` extra: without it an hf: name is a usage error (exit
    2) naming the extra, and every other model still works."""
    code = ("import sys; sys.modules['huggingface_hub'] = None; from vramrules.cli import main; sys.argv = ['vramrules'] + sys.argv[1:]\n"
            "main()")
    env = {**os.environ, "VRAMRULES_CACHE_DIR": str(tmp_path)}
    for cmd in (["eval", "--model", f"hf:{REPO}"], ["import", f"hf:{REPO}"]):
        r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env)
        assert r.returncode == 2 and "needs the huggingface_hub package: pip install 'vramrules[hub]'" in r.stderr + r.stdout, r.stderr
        assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-c", code, "eval", "--model", "llama3.1-8b"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "14.96 GiB" in r.stdout, r.stderr


def test_a_branch_is_asked_again_after_a_week_and_a_damaged_memo_is_read_again(hub, tmp_path, monkeypatch):
    hub.add(REPO, sharded_files())
    first = data_of("eval", "--model", f"hf:{REPO}")
    (memo,) = (tmp_path / "vramrules-cache").glob("hub-*.json")
    kept = json.loads(memo.read_text())
    assert kept["commit"] == SHA and set(kept["heads"]) == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    memo.write_text(json.dumps(_resummed({**kept, "read_at": time.time() - 8 * 86400})))
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert data_of("eval", "--model", f"hf:{REPO}") == first and hub.requests == []  # offline: as last seen
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert data_of("eval", "--model", f"hf:{REPO}") == first and hub.served(f"/api/models/{REPO}")
    for damaged in ({**kept, "heads": {k: {**v, "bytes": "not base64!"} for k, v in kept["heads"].items()}},
                    {**kept, "heads": {k: {**v, "size": v["size"] + 1} for k, v in kept["heads"].items()}}):  # valid JSON, one digit off
        memo.write_text(json.dumps(damaged))
        hub.requests.clear()
        assert data_of("eval", "--model", f"hf:{REPO}") == first and hub.ranges()  # read from the Hub again, never trusted


def _resummed(memo: dict) -> dict:
    from vramrules.importers.hub import _sum

    return {**memo, "sum": _sum(memo)}
