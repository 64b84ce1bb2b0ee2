"""The lifecycle worker (``certdesk worker``): a loop of jobs driven by database state."""
