"""The TwiML that connects a Twilio phone number to Confab, and `confab twiml` which prints it."""

from __future__ import annotations

import argparse
import sys
from typing import Any
from xml.etree import ElementTree

from server.config import Settings


def stream_twiml(url: str, agent: str | None = None, token: str | None = None, caller_token: str | None = None) -> str:
    """A TwiML document opening a bidirectional Media Stream to `url` (`wss://HOST/v1/twilio`).

    The agent name, the API key and the caller token (see `caller_token`) travel as
    `<Parameter>`s, which Twilio hands back in the stream's `start.customParameters`
    (a Stream URL may not carry a query string).
    """
    response = ElementTree.Element("Response")
    stream = ElementTree.SubElement(ElementTree.SubElement(response, "Connect"), "Stream", url=url)
    for name, value in (("agent", agent), ("token", token), ("caller_token", caller_token)):
        if value:
            ElementTree.SubElement(stream, "Parameter", name=name, value=value)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(response, encoding="unicode")


def add_command(commands: Any) -> None:
    """Register `confab twiml` on the CLI's subcommands."""
    twiml = commands.add_parser("twiml", help="print the TwiML that connects a Twilio number to an agent")
    twiml.add_argument("--url", required=True, help="the stream URL Twilio connects to, e.g. wss://HOST/v1/twilio")
    twiml.add_argument("--agent", help="the agent that answers (default: the owner's default agent)")
    twiml.add_argument("--token", help="an API key from CONFAB_API_KEYS (required when keys are configured)")


def print_twiml(args: argparse.Namespace, settings: Settings) -> int:
    """Print the TwiML for `args`; warn when the server would refuse it for lack of a token."""
    if not args.url.startswith("wss://"):
        print("confab: warning: Twilio only connects to wss:// stream URLs", file=sys.stderr)
    if settings.api_keys and not args.token:
        print("confab: warning: CONFAB_API_KEYS is set; without --token the server refuses the stream", file=sys.stderr)
    print(stream_twiml(args.url, args.agent, args.token))
    return 0
