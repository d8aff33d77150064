"""Confab memory package."""
