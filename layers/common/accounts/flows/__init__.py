"""Flow logic: one module per flow. Collaborators (repository, mailer, queue, clock) come in as arguments."""
