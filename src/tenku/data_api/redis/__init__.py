"""The Data API of Heroku Data for Redis: `/redis/v0/databases/...`."""
