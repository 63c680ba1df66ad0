#!/usr/bin/env python3
"""A real SMTP server for StatusHawk's tests (aiosmtpd).

Usage: smtp_sink.py DIR [--auth USER:PASSWORD]

Listens on a free port of 127.0.0.1, prints the port on stdout, and writes
every accepted message to DIR/<n>.eml (the raw message, with the envelope in
X-Sink-Mail-From / X-Sink-Rcpt-To headers on top). With --auth, AUTH
PLAIN/LOGIN is required (over plain text: it is a test server). Runs until
stdin closes, so it dies with the test process that started it.
"""

import socket
import sys
import threading
import warnings
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, directory):
        self.directory = Path(directory)
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        head = f"X-Sink-Mail-From: {envelope.mail_from}\r\nX-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        tmp = self.directory / f"{n}.tmp"
        tmp.write_bytes(head.encode() + envelope.original_content)
        tmp.rename(self.directory / f"{n}.eml")
        return "250 OK: queued as sink-%d" % n


def main():
    # AUTH without TLS is the point of a local test server.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    directory = sys.argv[1]
    auth = None
    if len(sys.argv) == 4 and sys.argv[2] == "--auth":
        user, password = sys.argv[3].split(":", 1)
        auth = (user.encode(), password.encode())

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth is not None and (auth_data.login, auth_data.password) == auth
        return AuthResult(success=ok, handled=False)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kwargs = {}
    if auth is not None:
        kwargs = dict(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
