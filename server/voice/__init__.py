"""Per-session speech pipelines over the shared models: listening (VAD, turns, STT) and speaking (TTS)."""
