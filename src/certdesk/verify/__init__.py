"""Talking to installed endpoints and reading certificate files (R14, R18).

The network and file side of verification, discovery and import: what a server sends and
what a file holds, observed and parsed with pyOpenSSL, Python's ``ssl`` and ``cryptography``.
Nothing here judges (``certdesk.core.endpoints``) or stores (the services do).
"""
