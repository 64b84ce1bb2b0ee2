"""JSON API routes under /api/v1 (OpenAPI at /openapi.json)."""
