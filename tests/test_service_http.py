"""`vramrules serve`: real HTTP requests (urllib, and raw sockets for what urllib cannot send) to
servers the tests start on 127.0.0.1 with port 0. The answers are the CLI's --format json
documents, key for key (and byte for byte where the CLI's text is ASCII); the errors the CLI's
error objects with the documented HTTP statuses; the bounds (size, slowness, compute time) hold."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import jsonschema
import pytest
from click.testing import CliRunner

from vramrules.cli import main
from vramrules.service import fields as F
from vramrules.service.http_api import MAX_BODY, exposure, make_server

LLAMA_8B_4090_TOTAL = 18_459_600_538  # bytes: `vramrules eval -m llama3.1-8b --gpu rtx-4090` (bf16, 4,096 tokens, batch 1)


def start(**kw):
    kw.setdefault("quiet", True)
    srv = make_server("127.0.0.1", 0, **kw)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def server():
    srv = start(read_timeout=1.0)
    yield srv
    srv.shutdown()
    srv.server_close()


def call(srv, method, path, body=None, headers=None):
    """(status, headers, raw body) of one request."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(srv.url.rstrip("/") + "/" + path.lstrip("/"), data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def ask(srv, method, path, body=None, headers=None):
    status, hdrs, raw = call(srv, method, path, body, headers)
    assert hdrs["Content-Type"] == "application/json"
    return status, json.loads(raw)


def cli(*args):
    """(exit code, stdout) of the CLI in this process."""
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return r.exit_code, r.output


def raw_exchange(srv, data: bytes, wait: float = 10.0) -> bytes:
    """Send `data` on a raw socket and read until the server closes (or `wait` seconds)."""
    host, port = srv.server_address[:2]
    with socket.create_connection((host, port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
    return out


def status_and_objects(reply: bytes):
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


# -- answers: the CLI's JSON --------------------------------------------------------------------

EVALS = [
    ({"model": "llama3.1-8b", "gpu": "rtx-4090"}, ["-m", "llama3.1-8b", "--gpu", "rtx-4090"]),
    ({"model": "llama3.1-8b", "gpu": "rtx-4090", "seq_len": "32k", "precision": "gguf-q4-k-m"},
     ["-m", "llama3.1-8b", "--gpu", "rtx-4090", "--seq-len", "32k", "--precision", "gguf-q4-k-m"]),
    ({"model": "llama3-70b", "mode": "train-lora", "gpu": "h100-sxm-80gb", "recompute": "full", "lora_rank": 64, "explain": True},
     ["-m", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb", "--gradient-checkpointing", "--lora-rank", "64", "--explain"]),
    ({"model": "qwen2.5-7b", "mode": "serve", "gpu": "l4", "batch": 8, "seq_len": 4096, "units": "GB"},
     ["-m", "qwen2.5-7b", "--mode", "serve", "--gpu", "l4", "--batch", "8", "--seq-len", "4096", "--units", "GB"]),
    ({"params": 7e9, "rules": "thumb", "precision": "fp32"}, ["--params", "7e9", "--rules", "thumb", "--precision", "fp32"]),
    ({"model": "llama3-70b", "gpu": "h100-sxm-80gb", "tp": 4, "kv_precision": "fp8"},
     ["-m", "llama3-70b", "--gpu", "h100-sxm-80gb", "--tp", "4", "--kv-precision", "fp8"]),
    ({"model": "mixtral-8x7b", "gpu": "rtx-4090+rtx-3090"}, ["-m", "mixtral-8x7b", "--gpu", "rtx-4090+rtx-3090"]),
]


def test_eval_answers_what_the_cli_prints(server):
    schema = F.schema(server.service.catalog, "eval")
    bytewise = 0
    for body, args in EVALS:
        jsonschema.validate(body, schema)  # every request here is one the published schema accepts
        status, _, raw = call(server, "POST", "eval", body)
        code, out = cli("eval", *args, "--format", "json")
        assert (status, code) == (200, 0), (body, raw[:300])
        assert json.loads(raw) == json.loads(out), body
        if out.isascii():
            assert raw.decode() == out, body
            bytewise += 1
    assert bytewise >= 4


def test_llama_8b_on_a_4090_totals_what_the_cli_gives(server):
    status, doc = ask(server, "POST", "eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"})
    assert status == 200
    assert doc["total"] == {"value": round(LLAMA_8B_4090_TOTAL / 2**30, 6), "unit": "GiB", "bytes": LLAMA_8B_4090_TOTAL}
    assert doc["fit"]["fits"] is True and doc["fit"]["gpu"] == "rtx-4090"
    assert doc["inputs"]["seq_len"] == 4096 and doc["inputs"]["precision"] == "bf16"
    assert sum(c["memory"]["bytes"] for c in doc["components"]) == pytest.approx(LLAMA_8B_4090_TOTAL, abs=len(doc["components"]))


def test_integers_take_the_cli_spellings(server):
    """32k is 32,000 and 32K is 32,768, as --seq-len reads them; 32768.0 is a whole number."""
    seen = {}
    for spelled in ("32k", "32K", 32768, 32768.0, " 32 K "):
        status, doc = ask(server, "POST", "eval", {"model": "llama3.1-8b", "seq_len": spelled})
        assert status == 200, doc
        seen[repr(spelled)] = doc["inputs"]["seq_len"]
    assert seen == {"'32k'": 32000, "'32K'": 32768, "32768": 32768, "32768.0": 32768, "' 32 K '": 32768}


FITS = [
    ({"model": "llama3-70b", "mode": "train-lora", "gpu": "h100-sxm-80gb"}, ["-m", "llama3-70b", "--mode", "train-lora", "--gpu", "h100-sxm-80gb"]),
    ({"model": "llama3.1-8b", "gpu": "rtx-4090", "max": "seq-len"}, ["-m", "llama3.1-8b", "--gpu", "rtx-4090", "--max", "seq-len"]),
    ({"model": "qwen2.5-7b", "mode": "serve", "gpu": "l4", "max": "batch", "units": "GB"},
     ["-m", "qwen2.5-7b", "--mode", "serve", "--gpu", "l4", "--max", "batch", "--units", "GB"]),
    ({"model": "llama3.1-8b", "precision": "int8"}, ["-m", "llama3.1-8b", "--precision", "int8"]),
]


def test_fit_answers_what_the_cli_prints(server):
    schema = F.schema(server.service.catalog, "fit")
    for body, args in FITS:
        jsonschema.validate(body, schema)
        status, doc = ask(server, "POST", "fit", body)
        code, out = cli("fit", *args, "--format", "json")
        assert (status, code) == (200, 0), doc
        assert doc == json.loads(out), body
    status, doc = ask(server, "POST", "fit", FITS[1][0])
    assert doc["question"] == "max-seq-len" and doc["answer"] > 32768
    assert doc["checks"][0]["argv"][:5] == ["eval", "--model", "llama3.1-8b", "--mode", "inference"]
    status, doc = ask(server, "POST", "fit", FITS[0][0])
    assert doc["question"] == "min-gpus" and doc["fits_on_one"] is False and doc["answer"] == 2


def test_list_and_show_answer_what_the_cli_prints(server):
    for path, args in [("list/models", ["list", "models"]), ("list/gpus", ["list", "gpus"]), ("list/modes?rules=thumb", ["list", "modes", "--rules", "thumb"]),
                       ("list/assumptions", ["list", "assumptions"]), ("show/model/llama3.1-8b", ["show", "model", "llama3.1-8b"]),
                       ("show/gpu/rtx-4090", ["show", "gpu", "rtx-4090"]), ("show/assumption/assume.cuda_context", ["show", "assumption", "assume.cuda_context"]),
                       ("show/rule/weights", ["show", "rule", "weights"])]:
        status, doc = ask(server, "GET", path)
        code, out = cli(*args, "--format", "json")
        assert (status, code) == (200, 0), path
        assert doc == json.loads(out), path
    status, doc = ask(server, "GET", "list/models")
    assert "llama3.1-8b" in [m["id"] for m in doc]
    status, doc = ask(server, "GET", "show/gpu/rtx-4090")
    assert {r["field"]: r["value"] for r in doc}["memory"] == "24 GiB"


def test_the_list_kinds_are_the_clis():
    from vramrules.commands.catalog_views import LISTS

    assert F.LIST_KINDS == LISTS


def test_the_request_schema_is_the_clis_options(server):
    """The scenario fields are the CLI's derived options (commands/scenario_options.py), under
    their vocabulary names: one vocabulary, no second list."""
    from vramrules.commands.scenario_options import params

    vocab = server.service.catalog.vocabulary
    derived = {p.name for p in params(vocab) if not p.name.endswith("__switch")}
    for question in ("eval", "fit"):
        status, schema = ask(server, "GET", f"schema/{question}")
        assert status == 200
        jsonschema.Draft202012Validator.check_schema(schema)
        frame = {"params", "mode", "rules", "units", "explain"} | ({"max", "min", "suggest"} if question == "fit" else set())
        assert set(schema["properties"]) - frame == derived
        assert schema["additionalProperties"] is False
    assert schema["properties"]["recompute"]["enum"] == ["none", "selective", "full"]
    assert schema["properties"]["zero"]["maximum"] == 3
    assert schema["properties"]["mode"]["enum"][:2] == ["inference", "train-full"]


def test_health(server):
    status, doc = ask(server, "GET", "health")
    assert status == 200 and doc["status"] == "ok"
    assert doc["catalog"]["models"] == len(server.service.catalog.kind("model")) > 50
    assert call(server, "HEAD", "health")[2] == b""
    status, doc = ask(server, "GET", "")
    assert status == 200 and "POST /v1/eval" in doc["endpoints"]
    status, objects = ask(server, "GET", "schema/sweep")
    assert status == 404 and objects[0]["hint"] == "one of: eval, fit, list, show"


# -- refusals: the CLI's error objects, with their statuses -------------------------------------

def test_an_unknown_model_is_the_clis_error(server):
    status, objects = ask(server, "POST", "eval", {"model": "llama3-7b"})
    code, out = cli("eval", "--model", "llama3-7b", "--format", "json")
    assert (status, code) == (400, 2)
    assert objects == json.loads(out)
    assert "did you mean: llama3-70b, llama3-8b" in objects[0]["message"]


def test_bad_fields_are_each_pointed_at(server):
    status, objects = ask(server, "POST", "eval", {"model": "llama3.1-8b", "seq_len": 0, "batch": "many", "precision": 16,
                                                   "dropout": "yes", "attention": "flashy", "seq-len": 4, "model_config": "/etc/passwd"})
    assert status == 400
    by = {o["pointer"]: o for o in objects}
    assert set(by) == {"/seq_len", "/batch", "/precision", "/dropout", "/attention", "/seq-len", "/model_config"}
    assert all(o["code"] == "usage_error" and o["file"] == "<request>" for o in objects)
    assert by["/seq_len"]["message"] == "seq_len must be a whole number >= 1, got 0"
    assert by["/attention"]["message"].endswith("got 'flashy' (did you mean 'flash'?)")
    assert by["/seq-len"]["hint"] == "the CLI's --seq-len is the field 'seq_len'"
    assert "read no files" in by["/model_config"]["hint"]
    status, objects = ask(server, "POST", "eval", {"model": "llama3.1-8b", "gradient-checkpointing": True})
    assert objects[0]["hint"] == "the CLI's --gradient-checkpointing is \"recompute\": \"full\""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"model": "llama3.1-8b", "seq_len": 0}, F.schema(server.service.catalog, "eval"))


def test_malformed_json_is_400_at_its_line_and_column(server):
    status, objects = ask(server, "POST", "eval", b'{"model": "llama3.1-8b",\n "gpu": }')
    assert status == 400
    assert objects == [{"code": "usage_error", "file": "<request>", "line": 2, "col": 9, "pointer": None,
                        "message": "malformed JSON: Expecting value", "hint": 'the body is one JSON object, e.g. {"model": "llama3.1-8b"}'}]
    for body, says in [(b'["llama3.1-8b"]', "is a JSON object, got list"), (b'{"model": "a", "model": "b"}', "duplicate key 'model'"),
                       (b'{"model": "llama3.1-8b", "batch": NaN}', "NaN is not JSON"), (b"\xff\xfe{}", "not UTF-8"),
                       (b"[" * 100_000, "malformed JSON")]:
        status, objects = ask(server, "POST", "eval", body[:MAX_BODY])
        assert status == 400 and says in objects[0]["message"], (body[:40], objects)


def test_unknown_entries_and_queries(server):
    status, objects = ask(server, "GET", "show/model/llama-9000")
    assert status == 404 and objects[0]["message"].startswith("unknown model 'llama-9000'")
    status, objects = ask(server, "GET", "list/nonsense")
    assert status == 400 and objects[0]["pointer"] == "/what"
    status, objects = ask(server, "GET", "list/models?colour=red")
    assert status == 400 and objects[0]["pointer"] == "?colour"
    status, objects = ask(server, "GET", "list/modes?rules=thumbs")
    assert status == 400 and "did you mean 'thumb'" in objects[0]["message"]


def test_wrong_methods_and_paths(server):
    status, hdrs, raw = call(server, "GET", "eval")
    assert status == 405 and hdrs["Allow"] == "POST"
    assert json.loads(raw)[0] == {"code": "request_error", "file": None, "line": None, "col": None, "pointer": None,
                                  "message": "/v1/eval takes POST, not GET", "hint": None}
    status, hdrs, _ = call(server, "POST", "list/models", {})
    assert status == 405 and hdrs["Allow"] == "GET, HEAD"
    assert call(server, "DELETE", "fit")[0] == 405
    status, objects = ask(server, "GET", "v2/eval")
    assert status == 404 and objects[0]["code"] == "request_error" and "POST /v1/eval" in objects[0]["hint"]
    status, objects = status_and_objects(raw_exchange(server, b"BREW /v1/eval HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"))
    assert status == 405 and objects[0]["code"] == "request_error"
    status, objects = ask(server, "POST", "eval", b'{"model": "llama3.1-8b"}', {"Content-Type": "text/plain"})
    assert status == 415


def test_oversized_bodies_are_413(server):
    big = json.dumps({"model": "x" * (MAX_BODY + 10)}).encode()
    status, objects = ask(server, "POST", "eval", big)
    assert status == 413 and f"at most {MAX_BODY:,}" in objects[0]["message"]
    # a declared length far past the bound is refused before a byte of it is read
    reply = raw_exchange(server, b"POST /v1/eval HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{")
    assert status_and_objects(reply)[0] == 413
    reply = raw_exchange(server, b"POST /v1/eval HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n{}")
    assert status_and_objects(reply)[0] == 411


def test_a_slow_body_is_408_within_the_read_timeout(server):
    started = time.monotonic()
    reply = raw_exchange(server, b"POST /v1/eval HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mo")
    took = time.monotonic() - started
    status, objects = status_and_objects(reply)
    assert status == 408 and "did not arrive within 1 s (4 of 100 bytes came)" in objects[0]["message"]
    assert 0.9 < took < 8


def test_expect_100_continue_is_answered(server):
    """curl sends `Expect: 100-continue` before a body over 1 KiB and waits for the go-ahead."""
    body = json.dumps({"model": "llama3.1-8b", "gpu": "rtx-4090", "precision": "bf16" + " " * 2000}).encode()
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(b"POST /v1/eval HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    status, objects = status_and_objects(reply)
    assert status == 400 and objects[0]["pointer"] == "/precision"  # read whole, then refused: over MAX_TEXT characters


def test_a_silent_client_is_dropped(server):
    host, port = server.server_address[:2]
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as s:
        assert s.recv(100) == b""  # nothing sent: the server closes after its read timeout
    assert time.monotonic() - started < 8


def test_a_foreign_host_header_is_refused_on_loopback(server):
    status, objects = ask(server, "GET", "health", headers={"Host": "attacker.example:8000"})
    assert status == 403 and "not this loopback server" in objects[0]["message"]
    assert ask(server, "GET", "health", headers={"Host": "localhost:1234"})[0] == 200


def test_a_long_computation_is_504_and_the_server_goes_on():
    srv = start(timeout=0.001)
    try:
        status, objects = ask(srv, "POST", "fit", {"model": "llama3-70b", "mode": "train-full"})  # every GPU type searched
        assert status == 504
        assert objects[0]["code"] == "timeout" and "longer than 0.001 s" in objects[0]["message"]
        srv.timeout = 60
        status, doc = ask(srv, "POST", "eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"})
        assert status == 200 and doc["total"]["bytes"] == LLAMA_8B_4090_TOTAL
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_servers_policy_is_its_data_and_sets():
    srv = start(sets=("assume.cuda_context=2 GiB",))
    try:
        status, doc = ask(srv, "POST", "eval", {"model": "llama3.1-8b", "gpu": "rtx-4090"})
        code, out = cli("eval", "-m", "llama3.1-8b", "--gpu", "rtx-4090", "--set", "assume.cuda_context=2 GiB", "--format", "json")
        assert doc == json.loads(out)
        assert doc["overrides"] == {"assume.cuda_context": {"value": "2 GiB", "was": "500 MiB"}}
        assert doc["total"]["bytes"] > LLAMA_8B_4090_TOTAL
    finally:
        srv.shutdown()
        srv.server_close()


def test_only_loopback_binds_silently():
    assert exposure("127.0.0.1") == exposure("localhost") == exposure("::1") == exposure("127.0.0.2") == ""
    assert exposure("0.0.0.0").startswith("warning: serving on 0.0.0.0")
    assert "every interface" in exposure("")


def test_the_serve_command_listens_on_loopback_and_stops_on_ctrl_c(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "vramrules.cli", "serve", "--port", "0", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        line = proc.stdout.readline()
        assert line.startswith("vramrules serve: listening on http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(url + "health", timeout=300) as resp:  # a guard against a hang, not a speed limit
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in err


def test_a_busy_port_is_a_usage_error():
    srv = start()
    try:
        port = srv.server_address[1]
        code, out = cli("serve", "--port", str(port))
        assert code == 2 and "in use" in out and "--port 0" in out
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_server_serves_the_calculator_page_of_its_catalog(server):
    """GET / is `vramrules web`'s page of the catalog the server answers from: the same bytes the
    command writes for the same data, as self-contained HTML; POST there is refused (405)."""
    from vramrules.render.web_page import render

    host, port = server.server_address[:2]

    def get(path, method="GET"):
        req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()

    status, hdrs, raw = get("/")
    assert status == 200 and hdrs["Content-Type"] == "text/html; charset=utf-8"
    assert raw == render(server.service.catalog, "built-in data", (), ()).encode("utf-8")
    assert b"default-src 'none'" in raw  # its own CSP: nothing loads from anywhere
    assert get("/calc.html")[2] == raw
    status, _hdrs, head = get("/", "HEAD")
    assert status == 200 and head == b""
    req = urllib.request.Request(f"http://{host}:{port}/", data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=60)
    assert exc.value.code == 405 and json.loads(exc.value.read())[0]["code"] == "request_error"
