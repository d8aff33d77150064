"""Confab audio building blocks: codecs, resampling, VAD and turn detection, STT, TTS, sentence chunking.

Pure building blocks: no networking, nothing imported from `server`, `agent` or `memory`.
"""
