"""`tokentag dashboard --serve`: the page on 127.0.0.1, built again when the ledger changes.

The server is small on purpose: one request at a time, each to arrive whole within a
bound, only GET, only two paths (the page and its version, which the page asks for every
few seconds to reload itself), only for a Host header naming this loopback address, so
that no other web page can read it through a rebound DNS name. The version is the size
and modification time of the ledger, the tag refs and the configuration: a commit or a
capture appends to the ledger, a new release adds a tag, a price may change.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import FrameType

from tokentag.core.errors import TokentagError
from tokentag.git.gitdirs import Worktree
from tokentag.ledger.jsonl import LEDGER_NAME

HOST = "127.0.0.1"
REQUEST_WAIT = 10.0  # seconds a client may take to send its request
_PAGE_PATHS = ("/", "/index.html")
_VERSION_PATH = "/version"


def ledger_version(worktree: Worktree, also: Sequence[str] = ()) -> str:
    """Changes when the ledger grows or is replaced, a tag is made or moved, or one of the
    files `also` names (the configuration) changes."""
    paths = (os.path.join(worktree.tokentag_dir, LEDGER_NAME),
             os.path.join(worktree.common_dir, "packed-refs"),
             os.path.join(worktree.common_dir, "refs", "tags"), *also)
    return "-".join(_stat_text(path) for path in paths)


def _stat_text(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return "0"
    return f"{stat.st_size}.{stat.st_mtime_ns}.{stat.st_ino}"


class LivePage:
    """The page for the current version, built on the first request after a change."""

    def __init__(self, build: Callable[[str], str], version: Callable[[], str]) -> None:
        self._build = build
        self._version = version
        self._built: tuple[str, bytes] | None = None

    def version(self) -> str:
        return self._version()

    def page(self) -> bytes:
        version = self._version()
        if self._built is None or self._built[0] != version:
            self._built = (version, self._build(version).encode("utf-8"))
        return self._built[1]


def make_server(page: LivePage, port: int) -> HTTPServer:
    """A server bound to 127.0.0.1:`port` (0: any free port) answering for `page`."""

    class Handler(_Handler):
        live = page

    server = HTTPServer((HOST, port), Handler)
    Handler.port = server.server_port
    return server


def serve_until_interrupted(server: HTTPServer, poll: float = 0.5) -> None:
    """Answer requests until Ctrl-C, then raise KeyboardInterrupt. Not `serve_forever`:
    a KeyboardInterrupt raised while a finalizer runs (GitPython's waits for its git
    processes, after a page is built) is swallowed by Python, and that server served on.
    Here Ctrl-C is also remembered, and the loop looks every `poll` seconds."""
    ctrl_c = _CtrlC()
    previous = signal.getsignal(signal.SIGINT)
    # Started with Ctrl-C ignored (a script's background job): the key is not for it.
    listening = previous not in (signal.SIG_IGN, None)
    server.timeout = poll
    try:
        if listening:
            signal.signal(signal.SIGINT, ctrl_c)
        while not ctrl_c.pressed:
            server.handle_request()
    finally:
        if listening:
            signal.signal(signal.SIGINT, previous)
    raise KeyboardInterrupt


class _CtrlC:
    """A SIGINT handler that raises KeyboardInterrupt, as Python's own, and remembers it."""

    pressed = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.pressed = True
        raise KeyboardInterrupt


def address_of(server: HTTPServer) -> str:
    return f"http://{HOST}:{server.server_port}/"


class _Deadline:
    """A request's input that must all arrive before one moment: the socket's timeout
    alone bounds each read, and a client sending a header line every few seconds would
    hold the one-request-at-a-time server for ever."""

    def __init__(self, stream: io.BufferedIOBase, connection: socket.socket,
                 seconds: float) -> None:
        self._stream = stream
        self._connection = connection
        self._deadline = time.monotonic() + seconds

    def readline(self, limit: int = -1) -> bytes:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._connection.settimeout(left)
        return self._stream.readline(limit)

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


class _Handler(BaseHTTPRequestHandler):
    live: LivePage
    port: int
    timeout = REQUEST_WAIT
    server_version = "tokentag"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self.rfile = _Deadline(self.rfile, self.connection, self.timeout)  # type: ignore[assignment]

    def do_GET(self) -> None:
        self.connection.settimeout(self.timeout)  # for the answer: what the request left is short
        path = self.path.split("?", 1)[0]
        if not self._host_is_ours():
            self._answer(HTTPStatus.MISDIRECTED_REQUEST, b"wrong host\n", "text/plain")
        elif path in _PAGE_PATHS:
            self._page()
        elif path == _VERSION_PATH:
            self._answer(HTTPStatus.OK, self.live.version().encode(), "text/plain")
        else:
            self._answer(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _page(self) -> None:
        try:
            page = self.live.page()
        except TokentagError as error:  # a damaged index, say: shown, and served again later
            self._answer(HTTPStatus.INTERNAL_SERVER_ERROR, f"tokentag: {error}\n".encode(),
                         "text/plain; charset=utf-8")
            return
        self._answer(HTTPStatus.OK, page, "text/html; charset=utf-8")

    def _host_is_ours(self) -> bool:
        return self.headers.get("Host", "") in (f"{HOST}:{self.port}", f"localhost:{self.port}")

    def _answer(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the terminal shows the address and nothing per request."""
