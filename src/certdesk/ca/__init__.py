"""Signing: the built-in CA, profiles and pre-signing lint. Only this package loads CA keys."""
