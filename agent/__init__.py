"""Confab agent package."""
