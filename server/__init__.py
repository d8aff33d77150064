"""Confab server package."""
