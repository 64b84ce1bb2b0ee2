"""Cases and what happens inside them: submittals, approvals, fulfilment, the certificate window,
delegated-administrator set-up and contacts. Imports pki, people and the ground floor."""
