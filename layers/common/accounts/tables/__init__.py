"""Data access, one module per concern; `accounts.repository.Repository` combines them."""
