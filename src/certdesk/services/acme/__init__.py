"""The ACME server's services (RFC 8555, R17): the registration authority behind the
protocol front end (certdesk/acme). A floor of its own, standing on pki and people."""
