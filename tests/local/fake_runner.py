#!/usr/bin/python3
"""A stand-in for ambient-runner, for the local executor's Job-level tests:
it writes what it was given (its environment, its working directory, the
token file's length) to seen.json in its working directory, then acts on
FAKE_RUNNER from that environment:

  exit:N       exits with N
  sleep:S      sleeps S seconds, then exits 0 (SIGTERM ends it at once, 143)
  stubborn:S   ignores SIGTERM and sleeps S seconds
  family:S     starts a child in a process group of its own that sleeps S
               seconds (its pid in family.pid), then sleeps S itself

Debian's /usr/bin/python3, standard library only."""
import json
import os
import signal
import subprocess
import time


def main():
    token = os.environ.get("AMBIENT_TOKEN_FILE", "")
    seen = {"env": dict(os.environ), "cwd": os.getcwd(), "pgid": os.getpgid(0),
            "sid": os.getsid(0),
            "token_len": os.path.getsize(token) if token and os.path.exists(token) else -1}
    with open("seen.json.tmp", "w") as f:
        json.dump(seen, f)
    os.rename("seen.json.tmp", "seen.json")
    mode, _, arg = os.environ.get("FAKE_RUNNER", "exit:0").partition(":")
    n = int(arg or 0)
    if mode == "exit":
        raise SystemExit(n)
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode == "family":
        child = subprocess.Popen(["sleep", str(n)], process_group=0)
        with open("family.pid", "w") as f:
            f.write(str(child.pid))
    time.sleep(n)


if __name__ == "__main__":
    main()
