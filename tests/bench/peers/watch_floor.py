#!/usr/bin/python3
"""The peer benchmark's floor: no client library, no cache, no queue. It
watches the widgets from the current resourceVersion and only finds, in
each raw event line, the bench's round annotations (a bytes search, no JSON
parse), so its drain time is about what kubesim takes to send the backlog.
Speaks the bench's protocol on stdout (tests/bench/peer_bench.py).

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
    counts = {}
    for line in resp:
        r, e = ROUND.search(line), EXPECT.search(line)
        if not r or not e:
            continue
        name = r.group(1).decode()
        counts[name] = counts.get(name, 0) + 1
        if counts[name] == int(e.group(1)):
            say(event="round", round=name, count=counts[name], t=time.monotonic())


if __name__ == "__main__":
    main()
