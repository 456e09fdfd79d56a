#!/usr/bin/python3
"""A stand-in for the Claude Code CLI that misbehaves on purpose, for the
runner's robustness tests (the real CLI never prints garbage). It accepts
the CLI's flags, reads the prompt from stdin as the real one does, and
acts on a marker in it (the runner gives the CLI a clean environment, so
the prompt is the one way in):

  [fake:garbage]    a 50 MB line that is not JSON, lines of invalid JSON,
                    then a well-formed run that writes FAKE.md in its
                    working directory
  [fake:many N]     N numbered assistant events as fast as it can (each
                    {"type":"assistant",...,"n":i}), then a result
  [fake:hang]       writes PART.md, says so, then works for 10 minutes
                    (for signal and deadline cases)

Debian's /usr/bin/python3, standard library only."""
import json
import os
import re
import sys
import time


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")


def main():
    prompt = sys.stdin.read()  # as -p reads it
    m = re.search(r"\[fake:(\w+)(?: (\d+))?\]", prompt)
    mode, count = (m.group(1), int(m.group(2) or 0)) if m else ("garbage", 0)
    emit({"type": "system", "subtype": "init", "session_id": "fake-session",
          "cwd": os.getcwd(), "model": "fake", "tools": []})
    if mode == "garbage":
        chunk = "x" * (1 << 20)
        for _ in range(50):
            sys.stdout.write(chunk)
        sys.stdout.write("\n")
        sys.stdout.write("{not json\n")
        sys.stdout.write("[1, 2, 3]\n")
        sys.stdout.write("\x00\x01 binary \xff\n")
        with open("FAKE.md", "w") as f:
            f.write("written by the fake CLI\n")
    elif mode == "many":
        for i in range(count):
            emit({"type": "assistant", "session_id": "fake-session", "n": i,
                  "message": {"id": "m%d" % i, "role": "assistant",
                              "content": [{"type": "text", "text": "event %d" % i}]}})
    elif mode == "hang":
        with open("PART.md", "w") as f:
            f.write("partial")
        emit({"type": "assistant", "session_id": "fake-session",
              "message": {"id": "w", "role": "assistant",
                          "content": [{"type": "text", "text": "wrote PART.md"}]}})
        sys.stdout.flush()
        time.sleep(600)
    emit({"type": "assistant", "session_id": "fake-session",
          "message": {"id": "last", "role": "assistant",
                      "content": [{"type": "text", "text": "done"}]}})
    emit({"type": "result", "subtype": "success", "is_error": False, "result": "done",
          "num_turns": 1, "duration_ms": 5, "total_cost_usd": 0.0,
          "usage": {"input_tokens": 1, "output_tokens": 1},
          "session_id": "fake-session"})
    sys.stdout.flush()


if __name__ == "__main__":
    main()
