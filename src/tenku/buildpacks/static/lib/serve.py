"""Serve a static site from the slug on $PORT.

static.json (optional): {"root": "public/", "clean_urls": true, "error_page": "404.html"}.
Dot files, the Procfile and static.json itself are never served.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import sys
from pathlib import Path
from typing import Any

HOME = Path(__file__).resolve().parents[2]
HIDDEN = {"Procfile", "static.json"}


def load_config() -> dict[str, Any]:
    path = HOME / "static.json"
    if not path.exists():
        return {}
    with path.open() as f:
        config = json.load(f)
    return config if isinstance(config, dict) else {}


CONFIG = load_config()
ROOT = (HOME / str(CONFIG.get("root", "."))).resolve()


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self) -> Any:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        parts = [p for p in path.split("/") if p]
        if any(p.startswith(".") for p in parts) or (parts and parts[0] in HIDDEN):
            return self.not_found()
        if CONFIG.get("clean_urls") and parts and "." not in parts[-1]:
            candidate = ROOT.joinpath(*parts).with_suffix(".html")
            if candidate.is_file():
                self.path = "/" + "/".join(parts) + ".html"
        target = ROOT.joinpath(*parts) if parts else ROOT
        if not target.exists() and CONFIG.get("error_page"):
            return self.not_found()
        return super().send_head()

    def not_found(self) -> None:
        page = CONFIG.get("error_page")
        body = b"Not Found\n"
        if page and (ROOT / page).is_file():
            body = (ROOT / page).read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html" if page else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main() -> None:
    port = int(os.environ.get("PORT", "5000"))
    handler = functools.partial(Handler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), handler)
    print(f"Serving {ROOT} on port {port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
