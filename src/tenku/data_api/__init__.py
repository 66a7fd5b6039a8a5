"""Heroku's Data API: what `heroku pg:*` and `redis:*` ask of the data host.

Heroku serves these calls on their own host (`api.data.heroku.com`); the CLI sends
them to `HEROKU_DATA_HOST` with the same token and headers as Platform API calls, so
Tenku serves them on its API host and port beside the Platform API: one listener, one
certificate, one token check. These routes are not resources of the Platform API
reference, hence this package rather than one under `resources/`. Each sub-package
(`postgres`, `redis`) answers for the add-ons of one built-in provider, reaching the
add-on's server through that provider's admin connection.
"""
