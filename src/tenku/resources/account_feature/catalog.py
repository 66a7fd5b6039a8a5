"""Account features (all labs). Names must not clash with app features: `heroku labs:enable`
tries the account first and falls back to the app only on a 404."""

from __future__ import annotations

from tenku.resources.app_feature.schemas import feature

ACCOUNT_FEATURES = [
    feature(
        "account-feature",
        "cli-preview",
        description="Try commands and flags before they are released to everyone",
        display_name="CLI preview",
        doc_url="https://devcenter.heroku.com/articles/heroku-cli",
        state="beta",
    ),
    feature(
        "account-feature",
        "dashboard-preview",
        description="Preview upcoming changes to the dashboard",
        display_name="Dashboard preview",
        doc_url="https://devcenter.heroku.com/articles/heroku-dashboard",
        state="beta",
    ),
]
