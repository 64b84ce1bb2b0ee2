"""Certificates themselves: issuance, revocation, inventory, the issuing authority, CSRs, name
policy and signer identity. Imports only the ground floor."""
