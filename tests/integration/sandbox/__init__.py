"""Gateway and Stripe sandbox tests (a package, so its conftest never shadows tests/conftest.py)."""
