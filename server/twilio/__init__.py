"""Telephony: phone calls through Twilio Media Streams (`WS /v1/twilio`)."""
