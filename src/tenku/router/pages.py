"""The HTML the router answers with itself: platform errors, maintenance, unknown hosts.

Tenku may run with no Internet access, so unlike Heroku's (which iframe a CDN page)
the default pages are self-contained. When the app sets ERROR_PAGE_URL or
MAINTENANCE_PAGE_URL the page becomes Heroku's full-window iframe of that URL, so an
app's custom page looks the same as it does on Heroku.
"""

from __future__ import annotations

import html

_STYLE = """
    html, body { margin: 0; padding: 0; height: 100%; }
    body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
           background: #f7f8fb; color: #3f3f44; display: flex; align-items: center;
           justify-content: center; }
    main { max-width: 32em; padding: 2em; text-align: center; }
    h1 { font-size: 1.6em; font-weight: 600; margin: 0 0 0.6em; }
    p { line-height: 1.5; margin: 0.4em 0; }
"""

_IFRAME_STYLE = """
    html, body, iframe { margin: 0; padding: 0; }
    html, body { height: 100%; overflow: hidden; }
    iframe { width: 100%; height: 100%; border: 0; }
"""


def _document(title: str, style: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "  <head>\n"
        '    <meta charset="utf-8">\n'
        '    <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"    <title>{html.escape(title)}</title>\n"
        f"    <style>{style}    </style>\n"
        "  </head>\n"
        f"  <body>\n{body}\n  </body>\n"
        "</html>\n"
    ).encode()


def _page(title: str, paragraphs: tuple[str, ...], custom_url: str | None) -> bytes:
    if custom_url:
        frame = f'    <iframe src="{html.escape(custom_url, quote=True)}"></iframe>'
        return _document(title, _IFRAME_STYLE, frame)
    text = "\n".join(f"      <p>{html.escape(p)}</p>" for p in paragraphs)
    main = f"    <main>\n      <h1>{html.escape(title)}</h1>\n{text}\n    </main>"
    return _document(title, _STYLE, main)


def application_error(error_page_url: str | None = None) -> bytes:
    return _page(
        "Application Error",
        (
            "An error occurred in the application and your page could not be served.",
            "If you are the application owner, check your logs for details.",
        ),
        error_page_url,
    )


def maintenance(maintenance_page_url: str | None = None) -> bytes:
    return _page(
        "Offline for Maintenance",
        ("This app is undergoing maintenance right now.", "Please check back later."),
        maintenance_page_url,
    )


def no_such_app() -> bytes:
    return _page(
        "No such app",
        (
            "There is no app configured at that hostname.",
            "Perhaps the app owner has renamed it, or you mistyped the URL.",
        ),
        None,
    )


def bad_request(status: int, reason: str) -> bytes:
    return _page(
        f"{status} {reason}",
        ("The router could not understand this request.",),
        None,
    )
