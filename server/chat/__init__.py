"""OpenAI chat completions for voice platforms (Vapi, Retell, LiveKit Agents, Pipecat): one request is one caller's turn."""
