import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class CountingHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def counting_server():
    """A local HTTP server that records every request it gets: a render that
    fetched a URL from user text would show up in `.requests`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    server.requests = []
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
