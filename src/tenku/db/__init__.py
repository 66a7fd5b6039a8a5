"""The database layer. Importing any part of it registers what every session of every
process must do before it commits (`tenku.db.changes`, `tenku.db.generation`)."""

# Journals the apps whose desired state a transaction changed, for the runtime.
from tenku.db import changes as _changes  # noqa: F401

# Moves the auth generation when a credential changes.
from tenku.db import generation as _generation  # noqa: F401
