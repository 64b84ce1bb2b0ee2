"""certdesk: the certificate service a state data center runs for the agencies it hosts."""

__version__ = "0.1.0"
