"""Pure rules of certdesk: no I/O, only decisions (DESIGN §4)."""
