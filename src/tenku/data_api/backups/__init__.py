"""Heroku Postgres backups, restores, copies and backup schedules (`pg:backups*`, `pg:copy`)."""
