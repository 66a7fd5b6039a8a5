"""Add-on providers and the catalogue they are offered from."""
