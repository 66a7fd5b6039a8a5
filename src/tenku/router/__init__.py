"""The HTTP router: requests for app host names, proxied to the apps' web dynos."""

from tenku.router.proxy import Router
from tenku.router.routes import RouterLog, RouteTable, Target

__all__ = ["RouteTable", "Router", "RouterLog", "Target"]
