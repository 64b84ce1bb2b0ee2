"""People and who they act for: organizations, accounts, sign-in, passwords, API tokens and
visibility. Imports only the ground floor."""
