"""A web process for dyno tests: answers with what its dyno sees."""

import http.server
import json
import os
import signal
import threading
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.rsplit("/", 1)[1]))
        body = json.dumps(
            {
                "dyno": os.environ.get("DYNO"),
                "port": os.environ.get("PORT"),
                "profile": os.environ.get("PROFILE_RAN"),
                "greeting": os.environ.get("GREETING"),
                "home": os.environ.get("HOME"),
                "cwd": os.getcwd(),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print("served", self.path, flush=True)


class Server(http.server.ThreadingHTTPServer):
    # Requests in flight when SIGTERM comes are answered before the process exits.
    daemon_threads = False
    block_on_close = True


def stop(signum: int, frame: object) -> None:
    # shutdown() waits for serve_forever(), which runs in this (the main) thread.
    threading.Thread(target=server.shutdown).start()


print("booting on", os.environ["PORT"], flush=True)
server = Server(("0.0.0.0", int(os.environ["PORT"])), Handler)
signal.signal(signal.SIGTERM, stop)
server.serve_forever()
server.server_close()
