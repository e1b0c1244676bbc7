"""`vramrules serve`: the JSON API over HTTP (stdlib http.server, one thread per connection, the
engine on one worker: service/answer.py).

    POST /v1/eval               {"model": "llama3.1-8b", "gpu": "rtx-4090", "seq_len": "32k", ...}
    POST /v1/fit                {"model": "llama3-70b", "mode": "train-lora", "gpu": "h100-sxm-80gb"}
    GET  /v1/list/WHAT[?rules=SET]          models, gpus, precisions, modes, ...
    GET  /v1/show/KIND/ID[?rules=SET]       model, gpu, precision, optimizer, lora-target, assumption, rule
    GET  /v1/schema/QUESTION                the JSON Schema of an eval, fit, list or show request
    GET  /v1/health
    GET  /                      the calculator page (`vramrules web`) of the same catalog

Answers are the JSON the CLI prints with --format json; errors a JSON list of the CLI's error
objects [{code, file, line, col, pointer, message, hint}] with the status of their class (STATUS).
Bounds: a body of at most MAX_BODY bytes (413), sent within `read_timeout` seconds (408), as
application/json (415); an answer within `timeout` seconds (504). Bound to loopback, the server
answers only requests whose Host is a loopback name (a DNS-rebinding page gets 403)."""
from __future__ import annotations

import errno
import ipaddress
import json
import re
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import DataError, EvaluationError, UsageError, VramrulesError
from ..version import __version__
from . import fields as F
from .answer import NotFound, Service, TimedOut, debug, error_object

MAX_BODY = 64 * 1024   # bytes of a request body; a scenario is a few hundred
DRAIN = 1024 * 1024    # a body up to this size is read (and dropped) before its 413, so the client reads the answer
# the HTTP status of each error class, most specific first; transport errors carry their own
STATUS = ((NotFound, 404), (UsageError, 400), (EvaluationError, 422), (DataError, 422), (TimedOut, 504))
# error codes of the HTTP layer, besides the engine's (vramrules.errors.CODES)
HTTP_CODES = {
    "request_error": "the HTTP request itself is refused: no such path (404), wrong method (405), too slow (408), no length (411), "
                     "too large (413), not JSON (415), a Host that is not this loopback server (403)",
    "timeout": "the answer took longer than the server's --timeout (504)",
    "internal_error": "a bug in vramrules (500); the server's log says more with VRAMRULES_DEBUG=1",
}
LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def status_of(exc: VramrulesError) -> int:
    return next((s for cls, s in STATUS if isinstance(exc, cls)), 422)


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback for i in infos)


def exposure(host: str) -> str:
    """The warning to print when `host` is not loopback: the API then answers other machines."""
    if is_loopback(host):
        return ""
    shown = host or "every interface"
    return (f"warning: serving on {shown}: other machines that reach it can query this catalog, without authentication "
            "(the default --host 127.0.0.1 answers this machine only)")


def _route(path: str):
    """(question or view, {path parameters}, allowed methods), or None for an unknown path."""
    for pattern, name, methods in ROUTES:
        m = pattern.match(path)
        if m:
            return name, {k: unquote(v) for k, v in m.groupdict().items()}, methods
    return None


ROUTES = [
    (re.compile(r"^/v1/eval/?$"), "eval", ("POST",)),
    (re.compile(r"^/v1/fit/?$"), "fit", ("POST",)),
    (re.compile(r"^/v1/list/(?P<what>[^/]+)/?$"), "list", ("GET", "HEAD")),
    (re.compile(r"^/v1/show/(?P<kind>[^/]+)/(?P<id>[^/]+)/?$"), "show", ("GET", "HEAD")),
    (re.compile(r"^/v1/schema/(?P<question>[^/]+)/?$"), "schema", ("GET", "HEAD")),
    (re.compile(r"^/v1/health/?$"), "health", ("GET", "HEAD")),
    (re.compile(r"^/v1/?$"), "index", ("GET", "HEAD")),
    (re.compile(r"^/(?:calc\.html)?$"), "page", ("GET", "HEAD")),
]
ENDPOINTS = ("POST /v1/eval", "POST /v1/fit", "GET /v1/list/WHAT[?rules=SET]", "GET /v1/show/KIND/ID[?rules=SET]",
             "GET /v1/schema/QUESTION", "GET /v1/health", "GET / (the calculator page)")
QUERY = {"list": ("rules",), "show": ("rules",)}  # the query parameters a GET takes


class Refused(Exception):
    """An HTTP-level refusal: status, error objects, extra headers."""

    def __init__(self, status: int, objects: list, headers: dict | None = None):
        super().__init__(status)
        self.status, self.objects, self.headers = status, objects, headers or {}


def refused(status: int, message: str, hint: str = "", headers: dict | None = None) -> Refused:
    return Refused(status, [error_object("request_error", message, hint)], headers)


class Handler(BaseHTTPRequestHandler):
    server_version = f"vramrules/{__version__}"
    sys_version = ""
    protocol_version = "HTTP/1.1"  # `Expect: 100-continue` (curl, for bodies over 1 KiB) is answered; each answer closes
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.read_timeout)  # every read of the request: a silent client is dropped

    # every method goes through one dispatcher: an unknown path is 404, a known one 405 unless allowed
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        try:
            self._check_host()
            url = urlsplit(self.path)
            found = _route(url.path)
            if found is None:
                raise refused(404, f"no such endpoint: {method} {url.path[:200]}", "the endpoints: " + ", ".join(ENDPOINTS))
            name, params, methods = found
            if method not in methods:
                raise refused(405, f"{url.path[:200]} takes {' or '.join(m for m in methods if m != 'HEAD')}, not {method}",
                              headers={"Allow": ", ".join(methods)})
            if name == "page":
                self._send_page(self.server.service.page(), body=method != "HEAD")
                self._log(method, 200, started)
                return
            body = self._read_json() if method == "POST" else self._query(name, url.query, params)
            status, answer = 200, self._answer(name, body, params)
        except Refused as exc:
            status, answer = exc.status, exc.objects
            self._send(status, answer, exc.headers, body=method != "HEAD")
            self._log(method, status, started)
            return
        except VramrulesError as exc:
            status, answer = status_of(exc), exc.objects()
        except Exception as exc:  # a bug: one line in the response, the traceback only in the log on request
            if debug():
                traceback.print_exc(file=sys.stderr)
            status, answer = 500, [error_object("internal_error", f"internal error: {type(exc).__name__}: {exc}",
                                                "this is a bug in vramrules; rerun the server with VRAMRULES_DEBUG=1 for the traceback and report it")]
        self._send(status, answer, body=method != "HEAD")
        self._log(method, status, started)

    def _answer(self, name: str, body, params: dict):
        srv = self.server
        if name == "health":
            return srv.service.health()
        if name == "index":
            return {"vramrules": __version__, "endpoints": list(ENDPOINTS)}
        if name == "schema":
            if params["question"] not in F.QUESTIONS:
                raise refused(404, f"no schema for '{params['question'][:100]}'", f"one of: {', '.join(F.QUESTIONS)}")
            return srv.service.schema(params["question"])
        return srv.service.answer(name, body, srv.timeout)

    def _check_host(self) -> None:
        """On a loopback server, a request must name a loopback host: a web page that rebinds its
        own name to 127.0.0.1 cannot read the answers."""
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        name = name.strip("[]").lower()
        if name in LOOPBACK_NAMES or name == self.server.host.lower():
            return
        try:
            if ipaddress.ip_address(name).is_loopback:
                return
        except ValueError:
            pass
        raise refused(403, f"Host {host[:100]!r} is not this loopback server",
                      "ask http://127.0.0.1:PORT/ or http://localhost:PORT/ (serve --host NAME binds another name)")

    def _query(self, name: str, query: str, params: dict) -> dict:
        """A GET's request: its path parameters and its query (rules=SET), each given once."""
        body: dict = dict(params)
        allowed = QUERY.get(name, ())
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=20)
        except ValueError as exc:
            raise UsageError(f"the query string is malformed: {exc}") from None
        for key, value in pairs:
            if key not in allowed:
                raise F.RequestError([F.problem("?" + key[:100], f"unknown query parameter '{key[:100]}'",
                                                f"this endpoint takes {', '.join(allowed)}" if allowed else "this endpoint takes none")])
            if key in body:
                raise F.RequestError([F.problem("?" + key, f"query parameter '{key}' given twice")])
            body[key] = value
        return body

    def _read_json(self):
        """The POST body as JSON: sized by Content-Length, within the read deadline, UTF-8, one
        object without duplicate keys, NaN or Infinity."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            raise refused(411, "chunked request bodies are not read", "send the body with a Content-Length")
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise refused(411, "a POST needs a Content-Length", "send the JSON request as the body, with its length")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise refused(400, f"Content-Length {length_text[:40]!r} is not a byte count") from None
        if length > MAX_BODY:
            if length <= DRAIN:
                self._read(length)  # read and dropped: the client then reads the 413 instead of a reset
            raise refused(413, f"the request body is {length:,} bytes; at most {MAX_BODY:,} are read",
                          "a request is one scenario: a JSON object of a few fields")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        raw = self._read(length)
        if ctype != "application/json":
            raise refused(415, f"the body must be application/json, not {ctype[:60] or 'untyped'}",
                          "send the header Content-Type: application/json")
        return loads(raw)

    def _read(self, length: int) -> bytes:
        """`length` bytes of the body, all within read_timeout seconds of the first: a client that
        trickles them is answered 408."""
        deadline = time.monotonic() + self.server.read_timeout
        chunks, left = [], length
        try:
            while left > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    raise refused(400, f"the body ended after {length - left:,} of its {length:,} bytes")
                chunks.append(chunk)
                left -= len(chunk)
        except TimeoutError:
            raise refused(408, f"the body did not arrive within {self.server.read_timeout:g} s ({length - left:,} of {length:,} bytes came)",
                          "send the whole request at once") from None
        self.connection.settimeout(self.server.read_timeout)
        return b"".join(chunks)

    def _send(self, status: int, answer, headers: dict | None = None, body: bool = True) -> None:
        data = (json.dumps(answer, indent=2, default=str) + "\n").encode("ascii")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Connection", "close")  # one request per connection: no idle keep-alive threads
            self.close_connection = True
            self.end_headers()
            if body:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client left: nothing to answer
            self.close_connection = True

    def _send_page(self, data: bytes, body: bool = True) -> None:
        """The page: self-contained HTML whose own Content-Security-Policy forbids any load."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            if body:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long, an unknown
        method) as the same JSON error objects."""
        self.close_connection = True
        if code == 501:
            code, message = 405, f"method {str(self.command)[:20]!r} is not served"
        self._send(code, [error_object("request_error", message or self.responses.get(code, ("error",))[0], explain or "")],
                   body=self.command != "HEAD")

    def log_request(self, code="-", size="-") -> None:
        pass  # _log writes one line per request, with its time

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's name)
        if self.server.quiet:
            return
        from ..render.terminal import inert

        sys.stderr.write(inert(f"{self.address_string()} - {format % args}") + "\n")

    def _log(self, method: str, status: int, started: float) -> None:
        if self.server.quiet:
            return
        from ..render.terminal import inert

        ms = (time.perf_counter() - started) * 1000
        sys.stderr.write(inert(f"{method} {self.path[:200]} {status} {ms:.1f} ms") + "\n")


def loads(raw: bytes):
    """A request body as JSON, or a RequestError at its line and column."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise F.RequestError([F.problem("", f"the body is not UTF-8 (byte {exc.start})")]) from None

    def no_duplicates(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k[:100]!r}")
            out[k] = v
        return out

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise F.RequestError([F.problem("", f"malformed JSON: {exc.msg}", 'the body is one JSON object, e.g. {"model": "llama3.1-8b"}',
                                        exc.lineno, exc.colno)]) from None
    except (ValueError, RecursionError) as exc:
        raise F.RequestError([F.problem("", f"malformed JSON: {str(exc)[:200] or 'nested too deeply'}")]) from None


class Server(ThreadingHTTPServer):
    """The HTTP server: one Service (catalog + engine worker), its bounds and its host."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, service: Service, timeout: float = 30.0, read_timeout: float = 10.0, quiet: bool = False):
        self.service, self.timeout, self.read_timeout, self.quiet = service, timeout, read_timeout, quiet
        self.host = host
        self.loopback = is_loopback(host)
        try:
            infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except (OSError, UnicodeError) as exc:
            raise UsageError(f"--host {host!r}: {exc}") from None
        family, *_rest, address = infos[0]
        self.address_family = family
        try:
            super().__init__((str(address[0]), int(address[1])), Handler)
        except OSError as exc:
            hint = " (--port 0 picks a free one)" if exc.errno == errno.EADDRINUSE else ""
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, (bytes, bytearray)) else str(host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/v1/"

    def server_close(self) -> None:
        super().server_close()
        self.service.close()


def make_server(host: str = "127.0.0.1", port: int = 8000, data=(), sets=(), timeout: float = 30.0, read_timeout: float = 10.0,
                quiet: bool = False) -> Server:
    """A server with the catalog loaded (a broken catalog raises here, before it listens)."""
    return Server(host, port, Service(data, sets), timeout, read_timeout, quiet)
