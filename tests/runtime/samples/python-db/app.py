"""A web app that counts its visits in the database its add-on gives it."""

import http.server
import os

import psycopg


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/db":
            with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS visits (at timestamptz DEFAULT now())")
                conn.execute("INSERT INTO visits DEFAULT VALUES")
                (count,) = conn.execute("SELECT count(*) FROM visits").fetchone()
            body = f"visits {count}\n"
        else:
            body = f"hello from {os.environ['DYNO']}\n"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
