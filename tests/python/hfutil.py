"""Test helpers for the Python package: a real holdfastd through hf-server-ctl (the client tests'
harness), a fake shard that answers with scripted frames, and a proxy that can lose a reply.

Every wait here has a bound, and every thread and socket is closed by stop(). Nothing listens
anywhere but 127.0.0.1.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import holdfast._proto as p

REPO = Path(__file__).resolve().parents[2]

# hf-server-ctl's own start bound is 3 tries of 30 s (tests/client/server_proc.c); stop is 10 s.
SERVER_START_TIMEOUT_S = 100.0
SERVER_STOP_TIMEOUT_S = 20.0
THREAD_JOIN_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 5.0


def tool(env: str, default: Path) -> str:
    return os.environ.get(env, str(default))


HOLDFASTD = tool("HF_HOLDFASTD", REPO / "build-test" / "engine" / "holdfastd")
SERVER_CTL = tool("HF_SERVER_CTL", REPO / "build-test" / "tests" / "python" / "hf-server-ctl")


@dataclass
class Server:
    proc: subprocess.Popen  # type: ignore[type-arg]
    port: int
    pid: int
    data_dir: str
    shards: int

    def addr(self, shard: int = 0) -> str:
        return "127.0.0.1:%d" % (self.port + shard)


def _read_line(fd: int, timeout_s: float) -> str:
    """One line from fd within timeout_s, or "" on end of file; TimeoutError past the bound."""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    buf = b""
    try:
        # Bounded by the deadline.
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("hf-server-ctl printed no ready line within %g s" % timeout_s)
            if not sel.select(left):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return ""
            buf += chunk
    finally:
        sel.close()
    return buf.decode().strip()


def start_server(shards: int = 2, durability: str = "none") -> Server:
    """A fresh holdfastd on free loopback ports; raises with the reason when it does not start."""
    for path in (HOLDFASTD, SERVER_CTL):
        if not os.access(path, os.X_OK):
            raise FileNotFoundError(
                "%s is not built (run meson/ninja in build-test, or set "
                "HF_HOLDFASTD and HF_SERVER_CTL)" % path
            )
    proc = subprocess.Popen(
        [SERVER_CTL, HOLDFASTD, str(shards), durability],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = _read_line(proc.stdout.fileno(), SERVER_START_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        proc.wait(SERVER_STOP_TIMEOUT_S)
        raise
    parts = line.split()
    if len(parts) != 4 or parts[0] != "ready":
        rc = proc.wait(SERVER_STOP_TIMEOUT_S)
        raise RuntimeError("holdfastd did not start (hf-server-ctl exit %s, said %r)" % (rc, line))
    return Server(proc, int(parts[1]), int(parts[2]), parts[3], shards)


def stop_server(s: Server) -> None:
    """Closes hf-server-ctl's stdin (it stops holdfastd by pid); kills both by pid past the
    bound."""
    assert s.proc.stdin is not None
    s.proc.stdin.close()
    try:
        s.proc.wait(SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        for pid in (s.pid, s.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        s.proc.wait(SERVER_STOP_TIMEOUT_S)
        raise AssertionError(
            "hf-server-ctl did not stop holdfastd within %g s" % SERVER_STOP_TIMEOUT_S
        )
    assert s.proc.returncode == 0, "hf-server-ctl exit %d" % s.proc.returncode


# ---- frames for the fake server ----

_HDR = struct.Struct("<HBBHHQII")


def reply_frame(opcode: int, request_id: int, status: int, body: bytes) -> bytes:
    return (
        _HDR.pack(
            p.FRAME_MAGIC, p.PROTO_VERSION, opcode, p.FLAG_REPLY, status, request_id, len(body), 0
        )
        + body
    )


def error_frame(opcode: int, request_id: int, status: int, detail: int = 0) -> bytes:
    return reply_frame(opcode, request_id, status, struct.pack("<Q", detail))


def slot_map_body(
    epoch: int, owners: List[Tuple[str, int]], table: Optional[List[int]] = None
) -> bytes:
    if table is None:
        table = [s % len(owners) for s in range(p.SLOTS_COUNT)]
    out = struct.pack("<QHH", epoch, len(owners), p.SLOTS_COUNT)
    for host, port in owners:
        h = host.encode()
        out += struct.pack("<HB", port, len(h)) + h
    return out + struct.pack("<%dH" % p.SLOTS_COUNT, *table)


@dataclass(frozen=True)
class Request:
    opcode: int
    request_id: int
    body: bytes


def _recv_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    buf = b""
    # Bounded by n and by the socket timeout.
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_request(sock: socket.socket) -> Optional[Request]:
    head = _recv_exact(sock, p.FRAME_HEADER_SIZE)
    if head is None:
        return None
    magic, version, opcode, flags, status, rid, size, reserved = _HDR.unpack(head)
    assert magic == p.FRAME_MAGIC and version == 1 and flags == 0 and status == 0 and reserved == 0
    body = _recv_exact(sock, size) if size else b""
    if body is None:
        return None
    return Request(opcode, rid, body)


# A handler returns the bytes to send (b"" for nothing), (bytes, True) to send them and close, or
# None to close the connection at once.
Handler = Callable[[Request], "Optional[bytes | Tuple[bytes, bool]]"]


class _Threads:
    """Accepting thread and per-connection threads; stop() closes every socket and joins."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.socks: List[socket.socket] = []
        self.threads: List[threading.Thread] = []
        self.stopping = False
        self.accepted = 0
        self._spawn(self._accept_loop)

    @property
    def addr(self) -> str:
        return "127.0.0.1:%d" % self.port

    def _spawn(self, fn: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        with self.lock:
            self.threads.append(t)
        t.start()

    def _track(self, s: socket.socket) -> None:
        with self.lock:
            self.socks.append(s)

    def _accept_loop(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.settimeout(SOCKET_TIMEOUT_S)
            self._track(conn)
            with self.lock:
                self.accepted += 1
            self._spawn(self.serve, conn)

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        with self.lock:
            socks, threads = list(self.socks), list(self.threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for t in threads:
            t.join(THREAD_JOIN_TIMEOUT_S)
            assert not t.is_alive(), (
                "a test server thread did not stop within %g s" % THREAD_JOIN_TIMEOUT_S
            )


class FakeShard(_Threads):
    """A shard that answers SLOT_MAP with a map naming only itself (unless the handler answers it)
    and every other request with handler(request)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: List[Request] = []
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        try:
            while not self.stopping:
                req = read_request(conn)
                if req is None:
                    return
                with self.lock:
                    self.requests.append(req)
                out = self.handler(req)
                if out is None and req.opcode == p.OP_SLOT_MAP:
                    out = reply_frame(
                        p.OP_SLOT_MAP,
                        req.request_id,
                        0,
                        slot_map_body(1, [("127.0.0.1", self.port)]),
                    )
                elif out is None:
                    return
                if isinstance(out, tuple):
                    conn.sendall(out[0])
                    return
                conn.sendall(out)
        except OSError:
            return
        finally:
            conn.close()


class LossyProxy(_Threads):
    """Forwards connections to target; lose(header) decides for each reply frame from the server:
    "pass", "drop" (swallow it, keep the connection) or "close" (swallow it and close both sides).
    """

    def __init__(self, target: Tuple[str, int], lose: Callable[[p.Header], str]) -> None:
        self.target = target
        self.lose = lose
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        try:
            up = socket.create_connection(self.target, timeout=SOCKET_TIMEOUT_S)
        except OSError:
            conn.close()
            return
        up.settimeout(None)
        conn.settimeout(None)
        self._track(up)
        self._spawn(self._pump_up, conn, up)
        self._pump_down(up, conn)

    def _pump_up(self, conn: socket.socket, up: socket.socket) -> None:
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                up.sendall(data)
        except OSError:
            pass
        for s in (up, conn):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _pump_down(self, up: socket.socket, conn: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(up, p.FRAME_HEADER_SIZE)
                if head is None:
                    break
                h = p.decode_reply_header(head)
                body = _recv_exact(up, h.body_size) if h.body_size else b""
                if body is None:
                    break
                verdict = self.lose(h)
                if verdict == "close":
                    break
                if verdict == "pass":
                    conn.sendall(head + body)
        except OSError:
            pass
        for s in (up, conn):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def wait_for(cond: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Polls cond until it holds; fails with what after timeout_s."""
    deadline = time.monotonic() + timeout_s
    # Bounded by the deadline.
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("%s: not true within %g s" % (what, timeout_s))
        time.sleep(0.01)
