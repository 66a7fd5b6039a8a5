"""The Data API of Heroku Postgres: `/client/v11/databases/...` and `/postgres/v0/...`."""
