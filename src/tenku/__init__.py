"""Tenku: a self-hosted platform that speaks the Heroku Platform API v3."""

__version__ = "0.1.0"
