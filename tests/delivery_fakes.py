"""Real receivers for delivery tests: an HTTP server and an SMTP server
(aiosmtpd), both in this process on 127.0.0.1."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import harness


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers every POST with ``status`` and keeps what it received."""

    status: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    sni: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def tls_files(directory: Path, hostname: str) -> TlsFiles:
    """A throw-away CA and a server certificate for ``hostname`` (DNS name only)."""
    now = datetime.now(UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("test webhook CA"))
        .issuer_name(name("test webhook CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@contextmanager
def webhook_receiver(tls: TlsFiles | None = None) -> Iterator[WebhookReceiver]:
    """An HTTP receiver on 127.0.0.1; with ``tls``, HTTPS, keeping the SNI
    name each client asked for in ``receiver.sni``."""
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = receiver.status
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)

        def sni(_sock: Any, server_name: str | None, _ctx: Any) -> None:
            receiver.sni.append(server_name or "")

        context.sni_callback = sni
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def dsn(
    envelope_sender: str,
    recipient: str,
    original: bytes,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "",
) -> bytes:
    """A delivery status notification (RFC 3464) as a relay like Postfix writes it."""
    if not diagnostic:
        code = "550" if status.startswith("5") else "452"
        diagnostic = f"smtp; {code} {status} <{{rcpt}}>: Recipient address rejected"
    headers = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode()
    return (
        "From: MAILER-DAEMON@relay.test (Mail Delivery System)\r\n"
        f"To: {envelope_sender}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"\r\n'
        "\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Your message could not be delivered to one or more recipients.\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.test\r\n"
        "Arrival-Date: Mon, 30 Nov 2026 05:00:00 +0000\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.acme.example\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\r\n"
        "\r\n"
        "--BOUNDARY\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
        f"{headers}\r\n"
        "--BOUNDARY--\r\n"
    ).encode()


@dataclass
class Mailbox:
    """A relay: accepts every message (250); for a recipient in ``bounce``
    it then, like a real relay whose next hop refused the mail, sends a DSN
    over SMTP to ``bounce_to`` (host, port) for the envelope sender."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    envelope_senders: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    bounce: dict[str, str] = field(default_factory=dict)
    """Recipient -> the DSN status to bounce it with (``5.1.1``, ``4.2.2``)."""
    bounce_to: tuple[str, int] | None = None
    bounce_replies: list[tuple[int, bytes]] = field(default_factory=list)
    """The bounce listener's reply to each DSN sent (code, text)."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.content)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), content))
            self.envelope_senders.append(envelope.mail_from)
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.bounce and self.bounce_to is not None:
                report = dsn(envelope.mail_from, rcpt, content, status=self.bounce[rcpt])
                threading.Thread(
                    target=self._send_bounce, args=(envelope.mail_from, report), daemon=True
                ).start()
        return "250 OK"

    def _send_bounce(self, to: str, report: bytes) -> None:
        """Like an MTA: a 4xx reply is tried again later (here: soon)."""
        assert self.bounce_to is not None
        for _ in range(20):
            with smtplib.SMTP(*self.bounce_to, timeout=60) as smtp:
                smtp.ehlo("relay.test")
                smtp.mail("")
                code, text = smtp.rcpt(to)
                reply = smtp.data(report) if code == 250 else (code, text)
            with self.lock:
                self.bounce_replies.append(reply)
            if reply[0] < 400 or reply[0] >= 500:
                return
            time.sleep(0.5)

    def received(self) -> list[tuple[list[str], bytes]]:
        with self.lock:
            return list(self.messages)


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.port = harness.free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Polls ``check`` until it returns something truthy; generous deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
