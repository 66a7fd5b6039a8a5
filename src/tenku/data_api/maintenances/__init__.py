"""Heroku Data's maintenances (`data:maintenances:*`): none is ever scheduled here."""
