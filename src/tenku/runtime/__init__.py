"""The runtime: what turns the desired state the API records into real work (builds)."""
