"""Confab audio package."""
