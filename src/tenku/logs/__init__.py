"""Each app's one log stream: platform and dyno lines, kept in the database."""
