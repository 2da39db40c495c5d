"""
A small SMTP server on loopback for the worker tests: it speaks just enough of
the protocol for Django's SMTP backend, keeps what it receives, and can take
its time answering, to hold a task mid-send, or refuse what it is sent.
"""

import contextlib
import socketserver
import threading
import time
from email import message_from_bytes


class _Session(socketserver.StreamRequestHandler):
    def handle(self):
        server = self.server
        server.connections += 1
        time.sleep(server.delay)
        # A client gone meanwhile (a killed worker) had nothing accepted.
        with contextlib.suppress(ConnectionError):
            self.converse(server)

    def converse(self, server):
        self.reply(b"220 test-smtp ready")
        data = None
        for line in self.rfile:
            if data is not None:
                if line in (b".\r\n", b".\n"):
                    message, data = b"".join(data), None
                    if server.refuse_with:
                        self.reply(server.refuse_with)
                        continue
                    server.messages.append(message_from_bytes(message))
                    self.reply(b"250 queued")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                data = []
                self.reply(b"354 go ahead")
            elif verb == b"QUIT":
                self.reply(b"221 bye")
                return
            else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                self.reply(b"250 ok")

    def reply(self, line: bytes):
        self.wfile.write(line + b"\r\n")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, delay: float = 0, refuse_with: bytes = b""):
        """`refuse_with`, e.g. b"554 no": the answer to every message instead of 250."""
        super().__init__(("127.0.0.1", 0), _Session)
        self.delay = delay
        self.refuse_with = refuse_with
        self.messages = []
        # Clients that connected, counted before the `delay` that holds them.
        self.connections = 0
        self.port = self.server_address[1]
        self.url = f"smtp://127.0.0.1:{self.port}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()
