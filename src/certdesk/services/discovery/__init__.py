"""Install verification, discovery and external certificates (R14, R18): a floor of its own,
on pki, people and casework (adoption opens a case)."""
