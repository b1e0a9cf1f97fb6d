"""Counts the words (whitespace-separated) and characters of a text, with the swarm-agent helper
(packages/swarm-agent-python). Agents run with an empty environment, so the helper's folder is
put on sys.path relative to this file: it runs from a fresh clone without an install."""

import os
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "packages", "swarm-agent-python")
)

from swarm_agent import run  # noqa: E402


def count(input, ctx):
    # The worker already checked the input against input_schema; this guards runs by hand. An
    # exception becomes an error line and exit status 1 (AgentError can also say retryable=False).
    text = (input or {}).get("text")
    if not isinstance(text, str):
        raise TypeError("input.text must be a string")
    # len() counts code points, as JavaScript's [...text].length does, not UTF-16 units.
    return {"words": len(text.split()), "characters": len(text)}


if __name__ == "__main__":
    run(count)
