"""Use cases: each combines core rules, storage and the CA inside one transaction."""
