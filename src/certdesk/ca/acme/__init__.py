"""A vendor CA reached over ACME (RFC 8555) with External Account Binding (R16, R17).

Built on certbot's ``acme`` package and ``josepy``; one module per concept, as ``acme`` does:
``problems`` (vendor errors and back-off), ``session`` (one account's connection),
``account`` (keys, EAB registration, key rollover), ``solvers`` and ``dns01`` (challenges),
``ari`` (RFC 9773 renewal information), ``backend`` (the :class:`~certdesk.ca.issuer.Issuer`).
The layer owns no storage: account keys and pending orders go back to the caller to seal
and record.
"""
