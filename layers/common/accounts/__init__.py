"""Shared code of the account service (the `common` Lambda layer)."""
