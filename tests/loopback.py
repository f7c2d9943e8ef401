"""Real servers on loopback for the delivery tests: an SMTP server (aiosmtpd) and an HTTP server
that answers like Slack's webhooks and Web API, with scripted replies (429, 404, 500, ok: false)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    """aiosmtpd's Controller cannot start on port 0: ask the kernel for a free port first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    data: bytes


@dataclass
class MailHandler:
    """Accepts everything, except the recipients and DATA replies a test scripts."""

    received: list[ReceivedMail] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> e.g. '550 5.1.1 no such user'
    data_replies: deque[str] = field(default_factory=deque)  # replies to the next DATA commands

    async def handle_RCPT(  # aiosmtpd's hook: its signature, arguments used or not
        self,
        server: SMTP,  # noqa: ARG002
        session: Session,  # noqa: ARG002
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],  # noqa: ARG002
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: ARG002
        if self.data_replies:
            return self.data_replies.popleft()
        content = envelope.original_content or b""
        self.received.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(port: int, handler: MailHandler) -> Iterator[MailHandler]:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@dataclass
class SlackRequest:
    at: float
    path: str
    body: dict[str, Any]


@dataclass
class SlackLike:
    """Replies in order from ``replies`` (status, headers, body), then 200 ok."""

    url: str = ""
    requests: list[SlackRequest] = field(default_factory=list)
    replies: deque[tuple[int, dict[str, str], str]] = field(default_factory=deque)
    delay: float = 0.0  # seconds to wait before each answer: a slow Slack


@contextmanager
def slack_server() -> Iterator[SlackLike]:
    state = SlackLike()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length).decode()
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = {"form": raw}
            state.requests.append(SlackRequest(time.monotonic(), self.path, body))
            time.sleep(state.delay)
            if state.replies:
                status, headers, text = state.replies.popleft()
            elif self.path.startswith("/api/"):
                status, headers, text = 200, {"Content-Type": "application/json"}, '{"ok": true, "ts": "1.1"}'
            else:
                status, headers, text = 200, {"Content-Type": "text/plain"}, "ok"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            payload = text.encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 (quiet: no access log)
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def garbage_server(reply: bytes = b"\x00\x01 not HTTP at all\r\n\r\n") -> Iterator[str]:
    """A TCP server on loopback that answers every connection with bytes that are not HTTP; its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(65536)
                    connection.sendall(reply)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
