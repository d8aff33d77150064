"""The OpenAI Realtime protocol: a sans-I/O adapter (protocol.py, items.py) and the session that drives it."""
