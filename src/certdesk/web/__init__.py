"""HTTP adapter: JSON API, public PKI endpoints, health. It only translates."""
