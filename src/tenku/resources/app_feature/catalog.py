"""App features. `general` ones are listed by `heroku features`, the rest by `heroku labs`."""

from __future__ import annotations

from collections.abc import Sequence

from tenku.ids import as_uuid
from tenku.resources.app_feature.schemas import FeatureOut, feature

DEVCENTER = "https://devcenter.heroku.com/articles"

APP_FEATURES = [
    feature(
        "app-feature",
        "http-session-affinity",
        description="Enable session affinity for all requests to the app",
        display_name="Session Affinity",
        doc_url=f"{DEVCENTER}/session-affinity",
        state="general",
    ),
    feature(
        "app-feature",
        "log-runtime-metrics",
        description="Emit dyno resource usage information into app logs",
        display_name="Log runtime metrics",
        doc_url=f"{DEVCENTER}/log-runtime-metrics",
        state="beta",
    ),
    feature(
        "app-feature",
        "preboot",
        description="Provide seamless web dyno deploys",
        display_name="Preboot",
        doc_url=f"{DEVCENTER}/preboot",
        state="general",
    ),
    feature(
        "app-feature",
        "runtime-dyno-metadata",
        description="Provide dyno metadata in environment variables",
        display_name="Dyno metadata",
        doc_url=f"{DEVCENTER}/dyno-metadata",
        state="beta",
    ),
]


def find_feature(catalog: Sequence[FeatureOut], ident: str) -> FeatureOut | None:
    uid = as_uuid(ident)
    for entry in catalog:
        if entry.name == ident or (uid is not None and entry.id == uid):
            return entry
    return None
