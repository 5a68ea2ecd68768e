"""Stripe's resources as the sandbox models them, one module per resource.

Each module builds its resource's objects and performs its state changes inside the
operation's transaction (`webapp.sandbox.context.Ctx`).
"""
