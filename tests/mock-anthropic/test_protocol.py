#!/usr/bin/python3
"""mock_anthropic over raw HTTP, without the CLI: the SSE stream a client
reads for each scenario, the control endpoints, the request log, the
start-up line and SIGTERM. Debian's /usr/bin/python3, standard library only."""

import http.client
import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from servers import MockAnthropic  # noqa: E402

CWD_SYSTEM = ("You are an interactive agent.\n# Environment\n"
              " - Primary working directory: /tmp/some repo/work\n - Is a git repository: true\n")


def request_body(*messages, system=CWD_SYSTEM, stream=True, model="claude-test-model"):
    return {"model": model, "max_tokens": 1000, "stream": stream,
            "system": [{"type": "text", "text": system}],
            "messages": list(messages), "tools": [{"name": "Write", "input_schema": {}}]}


def user(text):
    return {"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nToday is a day.\n</system-reminder>\n"},
        {"type": "text", "text": text}]}


def post(mock, body, headers=None, timeout=30):
    """(status, headers, raw body, seconds) of one POST /v1/messages?beta=true."""
    conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=timeout)
    hdrs = {"Content-Type": "application/json", "x-api-key": "test-key",
            "anthropic-version": "2023-06-01"}
    hdrs.update(headers or {})
    t0 = time.monotonic()
    try:
        conn.request("POST", "/v1/messages?beta=true", body=json.dumps(body), headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw, time.monotonic() - t0
    finally:
        conn.close()


def parse_sse(raw):
    """[(event name, data dict)] of an SSE body; asserts its framing."""
    events = []
    for frame in raw.decode().split("\n\n"):
        if not frame.strip():
            continue
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        data = json.loads(lines[1][len("data: "):])
        assert data["type"] == lines[0][len("event: "):], frame
        events.append((data["type"], data))
    return events


def assemble(events):
    """The content blocks a client builds from the deltas."""
    blocks = {}
    for name, d in events:
        if name == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"], _json="")
        elif name == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta["type"] == "text_delta":
                b["text"] += delta["text"]
            else:
                b["_json"] += delta["partial_json"]
    out = []
    for i in sorted(blocks):
        b = blocks.pop(i)
        js = b.pop("_json")
        if b["type"] == "tool_use":
            b["input"] = json.loads(js)
        out.append(b)
    return out


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = MockAnthropic()

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def setUp(self):
        self.mock.set_scenario(reset=True)
        self.mock.clear_requests()

    def stream(self, *messages, **kw):
        status, headers, raw, _ = post(self.mock, request_body(*messages), **kw)
        self.assertEqual(status, 200, raw)
        self.assertTrue(headers["content-type"].startswith("text/event-stream"), headers)
        return parse_sse(raw)

    def test_startup_line_and_health(self):
        self.assertRegex(self.mock.lines[0], r"^listening on http://127\.0\.0\.1:\d+$")
        self.assertEqual(self.mock.health(), {"ok": True, "scenario": "write"})
        conn = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=10)
        conn.request("HEAD", "/")
        self.assertEqual(conn.getresponse().status, 200, "the CLI's HEAD / probe")
        conn.close()

    def test_write_tool_use_then_end_turn(self):
        ev = self.stream(user("please change things"))
        names = [n for n, _ in ev]
        self.assertEqual(names[:2], ["message_start", "ping"])
        self.assertEqual(names[-2:], ["message_delta", "message_stop"])
        start = ev[0][1]["message"]
        self.assertEqual((start["type"], start["role"], start["model"], start["content"],
                          start["stop_reason"]),
                         ("message", "assistant", "claude-test-model", [], None))
        self.assertEqual(ev[-2][1]["delta"]["stop_reason"], "tool_use")
        self.assertIn("output_tokens", ev[-2][1]["usage"])
        blocks = assemble(ev)
        self.assertEqual([b["type"] for b in blocks], ["text", "tool_use"])
        tool = blocks[1]
        self.assertEqual(tool["name"], "Write")
        self.assertTrue(tool["id"].startswith("toolu_"))
        self.assertEqual(tool["input"]["file_path"], "/tmp/some repo/work/AMBIENT_MOCK.md",
                         "the file is in the working directory the system prompt names")
        self.assertIn("Ambient mock", tool["input"]["content"])
        deltas = [d for n, d in ev if n == "content_block_delta" and d["index"] == 1]
        self.assertGreaterEqual(len(deltas), 2, "the tool input JSON is split across deltas")

        # The CLI's next request carries the tool result: the answer is text.
        result = {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": tool["id"], "content": "File created"}]}
        ev2 = self.stream(user("please change things"),
                          {"role": "assistant", "content": blocks}, result)
        self.assertEqual(ev2[-2][1]["delta"]["stop_reason"], "end_turn")
        self.assertEqual([b["type"] for b in assemble(ev2)], ["text"])
        log = self.mock.requests()
        self.assertEqual([r["answer"] for r in log], ["tool_use", "end_turn"])
        self.assertEqual(log[1]["tool_results"], ["File created"])

    def test_write_file_and_content_configurable(self):
        self.mock.set_scenario("write", file="docs/NOTES.md", content="line\n")
        tool = assemble(self.stream(user("go")))[1]
        self.assertEqual(tool["input"], {"file_path": "/tmp/some repo/work/docs/NOTES.md",
                                         "content": "line\n"})
        self.mock.set_scenario(file="/abs/elsewhere.txt")
        tool = assemble(self.stream(user("go")))[1]
        self.assertEqual(tool["input"]["file_path"], "/abs/elsewhere.txt")

    def test_write_without_cwd_is_a_400(self):
        body = request_body(user("go"), system="no directory here")
        status, _, raw, _ = post(self.mock, body)
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(raw)["error"]["type"], "invalid_request_error")

    def test_text(self):
        self.mock.set_scenario("text", text="Nothing to do.")
        ev = self.stream(user("anything"))
        self.assertEqual(assemble(ev), [{"type": "text", "text": "Nothing to do."}])
        self.assertEqual(ev[-2][1]["delta"]["stop_reason"], "end_turn")

    def test_errors_have_the_api_error_body(self):
        for status, etype in ((500, "api_error"), (529, "overloaded_error"),
                              (401, "authentication_error"), (429, "rate_limit_error")):
            self.mock.set_scenario("error", status=status)
            code, headers, raw, _ = post(self.mock, request_body(user("x")))
            self.assertEqual(code, status)
            body = json.loads(raw)
            self.assertEqual(body["type"], "error")
            self.assertEqual(body["error"]["type"], etype)
            self.assertIn(etype, body["error"]["message"])
        self.mock.set_scenario("error", status=500, message="custom words", error_type="x_error")
        code, _, raw, _ = post(self.mock, request_body(user("x")))
        self.assertEqual(json.loads(raw)["error"], {"type": "x_error", "message": "custom words"})

    def test_error_mid_stream(self):
        self.mock.set_scenario("error", status=529, at="stream")
        ev = self.stream(user("x"))
        self.assertEqual([n for n, _ in ev], ["message_start", "ping", "error"])
        self.assertEqual(ev[2][1]["error"]["type"], "overloaded_error")
        # A non-streaming retry of the same request gets the HTTP error.
        code, _, raw, _ = post(self.mock, request_body(user("x"), stream=False))
        self.assertEqual(code, 529)

    def test_slow_spreads_deltas_over_duration(self):
        self.mock.set_scenario("slow", duration=1.0, chunks=4)
        status, _, raw, secs = post(self.mock, request_body(user("x")))
        self.assertEqual(status, 200)
        self.assertGreaterEqual(secs, 0.9)
        self.assertLess(secs, 10)
        ev = parse_sse(raw)
        self.assertEqual(len([1 for n, _ in ev if n == "content_block_delta"]), 4)

    def test_delay_before_answer(self):
        self.mock.set_scenario("text", delay=0.5)
        _, _, _, secs = post(self.mock, request_body(user("x")))
        self.assertGreaterEqual(secs, 0.45)

    def test_interactive_echoes_last_user_message(self):
        self.mock.set_scenario("interactive")
        ev = self.stream(user("first"), {"role": "assistant", "content": "echo: first"},
                         user("second one"))
        self.assertEqual(assemble(ev), [{"type": "text", "text": "echo: second one"}])

    def test_prompt_marker_selects_scenario(self):
        ev = self.stream(user("do it [mock:text text=hello]"))
        self.assertEqual(assemble(ev), [{"type": "text", "text": "hello"}])
        code, _, raw, _ = post(self.mock, request_body(user("x [mock:error status=401]")))
        self.assertEqual(code, 401)
        tool = assemble(self.stream(user('y [mock:write file=a.txt content="two words"]')))[1]
        self.assertEqual(tool["input"], {"file_path": "/tmp/some repo/work/a.txt",
                                         "content": "two words"})
        code, _, raw, _ = post(self.mock, request_body(user("[mock:nosuch]")))
        self.assertEqual(code, 400)
        self.assertIn("nosuch", json.loads(raw)["error"]["message"])
        log = self.mock.requests()
        self.assertEqual([r["scenario"] for r in log], ["text", "error", "write", None])
        self.assertEqual([r["marker"] for r in log[:3]], [True, True, True])
        self.assertEqual(self.mock.scenario()["scenario"], "write", "markers change one request")

    def test_request_log(self):
        self.stream(user("hello log"), headers={"x-api-key": "sk-passed-key"})
        log = self.mock.requests()
        self.assertEqual(len(log), 1)
        r = log[0]
        self.assertEqual(r["headers"]["x-api-key"], "sk-passed-key")
        self.assertEqual(r["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual((r["model"], r["stream"], r["status"], r["cwd"], r["path"]),
                         ("claude-test-model", True, 200, "/tmp/some repo/work",
                          "/v1/messages?beta=true"))
        self.assertEqual(r["user_texts"], ["hello log"], "system reminders are left out")
        self.assertNotIn("body", r)
        self.assertEqual(self.mock.requests(body=True)[0]["body"]["max_tokens"], 1000)
        self.assertEqual(self.mock.request_count(), 1)
        self.assertEqual(self.mock.clear_requests(), 1)
        self.assertEqual(self.mock.request_count(), 0)

    def test_scenario_endpoint_rejects_unknown(self):
        for bad in ({"scenario": "nosuch"}, {"colour": "red"}, {"status": "abc"}):
            status, body = self.mock.call("POST", "/mock/scenario", bad)
            self.assertEqual(status, 400, bad)
        cfg = self.mock.set_scenario("slow", duration=2)
        self.assertEqual((cfg["scenario"], cfg["duration"]), ("slow", 2))
        cfg = self.mock.set_scenario(reset=True)
        self.assertEqual((cfg["scenario"], cfg["duration"]), ("write", 5.0))

    def test_non_streaming_request(self):
        self.mock.set_scenario("text", text="plain")
        status, _, raw, _ = post(self.mock, request_body(user("x"), stream=False))
        self.assertEqual(status, 200)
        msg = json.loads(raw)
        self.assertEqual((msg["type"], msg["content"], msg["stop_reason"]),
                         ("message", [{"type": "text", "text": "plain"}], "end_turn"))


class Lifecycle(unittest.TestCase):
    def test_api_key_check(self):
        with MockAnthropic(api_key="right", scenario="text") as mock:
            status, _, raw, _ = post(mock, request_body(user("x")), {"x-api-key": "wrong"})
            self.assertEqual(status, 401)
            self.assertEqual(json.loads(raw)["error"]["type"], "authentication_error")
            status, _, _, _ = post(mock, request_body(user("x")), {"x-api-key": "right"})
            self.assertEqual(status, 200)

    def test_sigterm_exits_0_even_mid_stream(self):
        mock = MockAnthropic(scenario="slow", duration=30)
        conn = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=10)
        conn.request("POST", "/v1/messages", body=json.dumps(request_body(user("x"))),
                     headers={"Content-Type": "application/json"})
        conn.getresponse()  # headers are out: the stream is in progress
        t0 = time.monotonic()
        mock.proc.send_signal(signal.SIGTERM)
        self.assertEqual(mock.proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 5)
        conn.close()
        mock.stop()

    def test_bad_flag_fails_to_start(self):
        with self.assertRaises(RuntimeError):
            MockAnthropic(scenario="nosuch", start_timeout=10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
