"""Test doubles for Confab. The only fake allowed is the language model: see `llm_server`."""
