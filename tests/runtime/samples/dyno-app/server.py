"""A web process for dyno tests: answers with what its dyno sees."""

import http.server
import json
import os
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


print("booting on", os.environ["PORT"], flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
