"""The HTTP router: requests for app host names, proxied to the apps' web dynos."""

from tenku.router.proxy import Router
from tenku.router.routes import Backend, CertificateTable, RouterLog, RouteTable, Target

__all__ = ["Backend", "CertificateTable", "RouteTable", "Router", "RouterLog", "Target"]
