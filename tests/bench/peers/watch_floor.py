#!/usr/bin/python3
"""The peer benchmark's floor: no client library, no cache, no queue. It
watches the widgets from the current resourceVersion and reads the stream
in large blocks, counting the bench's round annotations in each block's
complete lines with bytes searches (no JSON parse, no per-line Python), so
it spends well under a microsecond per event and its drain time is about
what kubesim takes to send the backlog. Speaks the bench's protocol on
stdout (tests/bench/peer_bench.py).

  watch_floor.py SERVER TOKEN GROUP VERSION PLURAL"""
import http.client
import json
import re
import sys
import time
import urllib.parse

ROUND = re.compile(rb'"bench/round":"([^"]*)"')
EXPECT = re.compile(rb'"bench/expect":"([0-9]+)"')


def say(**fields):
    print(json.dumps(fields), flush=True)


def main():
    server, token, group, version, plural = sys.argv[1:6]
    u = urllib.parse.urlsplit(server)
    path = "/apis/%s/%s/%s" % (group, version, plural)
    auth = {"Authorization": "Bearer " + token}
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", path + "?limit=1", headers=auth)
    rv = json.loads(c.getresponse().read())["metadata"]["resourceVersion"]
    c.request("GET", path + "?watch=1&resourceVersion=%s" % rv, headers=auth)
    resp = c.getresponse()
    say(event="synced", objects=0, t=time.monotonic())
    say(event="round", round="sync", count=0, t=time.monotonic())
    counts, expect, tail = {}, {}, b""
    while True:
        block = resp.read1(1 << 20)
        if not block:
            return
        lines, nl, tail = (tail + block).rpartition(b"\n")
        if not nl:
            continue  # no line is complete yet: all of it is in tail
        for name in set(ROUND.findall(lines)):
            key = name.decode()
            if key not in expect:
                at = lines.index(b'"bench/round":"' + name + b'"')
                e = EXPECT.search(lines, lines.rfind(b"\n", 0, at) + 1)
                expect[key] = int(e.group(1)) if e else -1
            counts[key] = counts.get(key, 0) + lines.count(b'"bench/round":"' + name + b'"')
            if counts[key] == expect[key]:
                say(event="round", round=key, count=counts[key], t=time.monotonic())


if __name__ == "__main__":
    main()
