"""Worker protocol: one JSON message {input, context} on stdin (one line, or until end of input);
one JSON line on stdout, {"type": "output", "output": ...} or {"type": "error", "message": ...}
with exit status 1. Standard library only."""

import json
import sys


def main() -> int:
    try:
        # Bytes, decoded as UTF-8: the locale's encoding is not necessarily UTF-8.
        message = json.loads(sys.stdin.buffer.readline().decode("utf-8"))
        text = message["input"]["text"]
        if not isinstance(text, str):
            raise TypeError("input.text must be a string")
    except (ValueError, KeyError, TypeError) as error:
        print(json.dumps({"type": "error", "message": f"bad input: {error}"}), flush=True)
        return 1
    # len() counts code points, as JavaScript's [...text].length does, not UTF-16 units.
    output = {"words": len(text.split()), "characters": len(text)}
    print(json.dumps({"type": "output", "output": output}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
