#!/usr/bin/python3
"""The real Claude Code CLI against mock_anthropic, one scenario at a time:
what `claude -p --output-format stream-json --verbose` prints, the files it
writes in its working directory, its exit status, and what the mock received.

The CLI comes from $CLAUDE_CLI (CMake's find_program) or PATH; it only ever
talks to the mock (tests/common/claudecli.py's claude_env). Each run is
bounded in time. Debian's /usr/bin/python3, standard library only."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "common"))

from claudecli import (CLI_VERSION, Claude, claude_args, claude_cli,  # noqa: E402
                       claude_env, run_claude)
from servers import MockAnthropic  # noqa: E402

API_KEY = "sk-ant-test-key-0123"
MODEL = "claude-sonnet-4-5"


def setUpModule():
    if not claude_cli():
        raise RuntimeError("claude CLI not found: deploy/dev/install-deps.sh installs it "
                           "(or set CLAUDE_CLI)")


class CliTest(unittest.TestCase):
    mock_options = {}

    @classmethod
    def setUpClass(cls):
        cls.mock = MockAnthropic(**cls.mock_options)

    @classmethod
    def tearDownClass(cls):
        cls.mock.stop()

    def setUp(self):
        self.mock.set_scenario(reset=True)
        self.mock.clear_requests()
        self.tmp = tempfile.mkdtemp(prefix="mockcli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.repo = os.path.join(self.tmp, "repo")
        os.makedirs(self.repo)
        subprocess.run(["git", "init", "-q", self.repo], check=True, timeout=30)
        self.env = claude_env(self.mock.url, self.tmp, api_key=API_KEY)

    def run_cli(self, prompt, timeout=90, **kw):
        kw.setdefault("model", MODEL)
        run = run_claude(prompt, self.repo, self.env, timeout=timeout, **kw)
        self.assertIsNotNone(run.rc)
        return run

    def git_status(self):
        return subprocess.run(["git", "status", "--porcelain"], cwd=self.repo, text=True,
                              stdout=subprocess.PIPE, check=True, timeout=30).stdout

    def describe(self, run):
        return "rc=%s events=%s stderr=%s" % (run.rc, [e.get("type") for e in run.events],
                                              run.stderr[-1500:])

    def assertInit(self, run):
        init = run.init
        self.assertIsNotNone(init, self.describe(run))
        self.assertIs(run.events[0], init, "the init line comes first")
        self.assertEqual(init["cwd"], os.path.realpath(self.repo))
        self.assertEqual(init["claude_code_version"], CLI_VERSION)
        self.assertEqual(init["apiKeySource"], "ANTHROPIC_API_KEY")
        self.assertEqual(init["permissionMode"], "bypassPermissions")
        self.assertIn("Write", init["tools"])
        self.assertTrue(init["session_id"])

    def assertSuccess(self, run, result_text):
        self.assertEqual(run.rc, 0, self.describe(run))
        self.assertInit(run)
        self.assertEqual(len(run.results), 1, self.describe(run))
        res = run.result
        self.assertIs(run.events[-1], res, "the result line comes last")
        self.assertEqual((res["subtype"], res["is_error"], res["result"], res["stop_reason"]),
                         ("success", False, result_text, "end_turn"))
        self.assertEqual(res["session_id"], run.init["session_id"])


class Scenarios(CliTest):
    def test_write(self):
        self.mock.set_scenario("write", file="docs/AMBIENT_MOCK.md", content="from the mock\n")
        run = self.run_cli("add a note")
        self.assertSuccess(run, "Wrote docs/AMBIENT_MOCK.md.")
        target = os.path.join(os.path.realpath(self.repo), "docs", "AMBIENT_MOCK.md")
        with open(target) as f:
            self.assertEqual(f.read(), "from the mock\n", "the CLI really wrote the file")
        self.assertEqual(self.git_status(), "?? docs/\n")
        self.assertEqual(run.texts(), ["I will write docs/AMBIENT_MOCK.md.",
                                       "Wrote docs/AMBIENT_MOCK.md."])
        [tool] = run.tool_uses()
        self.assertEqual((tool["name"], tool["input"]["file_path"]), ("Write", target))
        results = [b for b in run.content_blocks("user") if b.get("type") == "tool_result"]
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0]["tool_use_id"], tool["id"])
        self.assertFalse(results[0].get("is_error"))
        self.assertEqual(run.result["num_turns"], 2)
        self.assertEqual(run.result["permission_denials"], [])

        log = self.mock.requests()
        self.assertEqual([r["answer"] for r in log], ["tool_use", "end_turn"])
        for r in log:
            self.assertEqual(r["headers"]["x-api-key"], API_KEY, "the key passed arrives")
            self.assertEqual(r["headers"]["anthropic-version"], "2023-06-01")
            self.assertEqual(r["model"], MODEL, "--model arrives")
            self.assertTrue(r["stream"])
            self.assertEqual(r["cwd"], os.path.realpath(self.repo))
            self.assertEqual(r["path"], "/v1/messages?beta=true")
        self.assertEqual(log[0]["user_texts"], ["add a note"])
        self.assertIn("Write", log[0]["tools"])
        self.assertEqual(log[1]["roles"][-2:], ["assistant", "user"])
        self.assertEqual(len(log[1]["tool_results"]), 1)
        print("write: %.2fs, peak RSS %d MiB" % (run.wall, run.maxrss_kib // 1024))

    def test_write_needs_permission_mode(self):
        run = self.run_cli("add a note", permission_mode="acceptEdits")
        self.assertEqual(run.rc, 0, self.describe(run))
        self.assertTrue(os.path.exists(os.path.join(self.repo, "AMBIENT_MOCK.md")))
        self.assertEqual(run.init["permissionMode"], "acceptEdits")

        # In -p mode "default" cannot ask anyone: the write is denied, the
        # run still "succeeds", and the denial is in the result line.
        os.remove(os.path.join(self.repo, "AMBIENT_MOCK.md"))
        run = self.run_cli("add a note", permission_mode="default")
        self.assertEqual(run.rc, 0, self.describe(run))
        self.assertEqual(self.git_status(), "")
        self.assertFalse(run.result["is_error"])
        [denial] = run.result["permission_denials"]
        self.assertEqual(denial["tool_name"], "Write")
        results = [b for b in run.content_blocks("user") if b.get("type") == "tool_result"]
        self.assertTrue(results[0]["is_error"])
        self.assertTrue(run.result["result"].startswith("The write failed: "))

    def test_text_makes_no_changes(self):
        self.mock.set_scenario("text")
        run = self.run_cli("look around")
        self.assertSuccess(run, "No changes are needed.")
        self.assertEqual(run.tool_uses(), [])
        self.assertEqual(run.result["num_turns"], 1)
        self.assertEqual(self.git_status(), "")
        self.assertEqual(self.mock.request_count(), 1)

    def test_http_errors(self):
        """An API error ends the run: exit 1, a synthetic assistant line with
        the message, and a result line with is_error true (subtype still
        "success") and api_error_status."""
        for status, words, kind in (
                (500, "API Error: 500 ", "server_error"),
                (529, "API Error: 529 ", "server_error"),
                (401, "Failed to authenticate. API Error: 401 ", "authentication_failed"),
                (403, "Failed to authenticate. API Error: 403 ", "authentication_failed"),
                (429, "API Error: Request rejected (429)", "rate_limit"),
                (400, "API Error: 400 ", "unknown")):
            with self.subTest(status=status):
                self.mock.clear_requests()
                self.mock.set_scenario("error", status=status)
                run = self.run_cli("hello")
                self.assertEqual(run.rc, 1, self.describe(run))
                self.assertInit(run)
                res = run.result
                self.assertIs(run.events[-1], res)
                self.assertEqual((res["subtype"], res["is_error"], res["api_error_status"]),
                                 ("success", True, status))
                self.assertTrue(res["result"].startswith(words), res["result"])
                self.assertIn("mock-anthropic scripted", res["result"], "the API's message")
                [msg] = run.of_type("assistant")
                self.assertEqual(msg["message"]["model"], "<synthetic>")
                self.assertEqual(msg["message"]["content"][0]["text"], res["result"])
                self.assertEqual(msg["error"], kind, "the CLI's class of the error")
                self.assertEqual(self.mock.request_count(), 1,
                                 "CLAUDE_CODE_MAX_RETRIES=0: no retry")
                self.assertLess(run.wall, 30)
                print("error %d: %.2fs" % (status, run.wall))

    def test_api_unreachable(self):
        with socket.socket() as s:  # a loopback port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = claude_env("http://127.0.0.1:%d" % port, self.tmp)
        run = run_claude("hello", self.repo, env, timeout=90)
        self.assertEqual(run.rc, 1, self.describe(run))
        self.assertEqual((run.result["is_error"], run.result["api_error_status"],
                          run.result["result"]),
                         (True, None, "API Error: Unable to connect to API (ConnectionRefused)"))
        self.assertEqual(run.of_type("assistant")[0]["error"], "server_error")
        self.assertLess(run.wall, 30)

    def test_error_mid_stream_is_retried_then_fails(self):
        """An SSE error event after a 200: the CLI retries the stream itself
        (CLAUDE_CODE_MAX_RETRIES does not stop it), then tries once without
        streaming, which gets the HTTP error."""
        self.mock.set_scenario("error", status=529, at="stream")
        run = self.run_cli("hello")
        self.assertEqual(run.rc, 1, self.describe(run))
        res = run.result
        self.assertEqual((res["is_error"], res["api_error_status"]), (True, 529))
        log = self.mock.requests()
        self.assertGreaterEqual(len(log), 2)
        self.assertTrue(log[0]["stream"])
        self.assertEqual((log[-1]["stream"], log[-1]["status"]), (False, 529))
        print("error 529 mid-stream: %.2fs, %d requests (%s)"
              % (run.wall, len(log), ", ".join("stream" if r["stream"] else "non-stream"
                                                for r in log)))

    def test_slow_and_a_deadline(self):
        self.mock.set_scenario("slow", duration=3, chunks=3)
        c = Claude(claude_args("take your time", model=MODEL), cwd=self.repo, env=self.env)
        try:
            c.wait_event(lambda e: e.get("subtype") == "init", timeout=60)
            time.sleep(1.5)
            while c.next_event(0):
                pass
            self.assertEqual(c.results, [], "no result while the answer is streaming")
            self.assertIsNone(c.proc.poll())
            c.wait(60)
        finally:
            c.kill()
        self.assertGreaterEqual(c.wall, 3)
        self.assertSuccess(c, "slow 0. slow 1. slow 2. ")

        # A deadline: SIGINT mid-answer ends the run at once with a result
        # line "error_during_execution"; SIGTERM ends it without one.
        self.mock.set_scenario("slow", duration=60)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with self.subTest(signal=sig):
                c = Claude(claude_args("take your time", model=MODEL), cwd=self.repo,
                           env=self.env)
                try:
                    c.wait_event(lambda e: e.get("subtype") == "init", timeout=60)
                    time.sleep(1)
                    t0 = time.monotonic()
                    c.proc.send_signal(sig)
                    rc = c.wait(20)
                    took = time.monotonic() - t0
                finally:
                    c.kill()
                self.assertLess(took, 10)
                if sig == signal.SIGINT:
                    self.assertEqual(rc, 0, self.describe(c))
                    self.assertEqual((c.result["subtype"], c.result["is_error"]),
                                     ("error_during_execution", True))
                else:
                    self.assertIn(rc, (143, -signal.SIGTERM), self.describe(c))
                    self.assertEqual(c.results, [])
                print("slow: %s ends the CLI in %.2fs, exit %s" % (sig.name, took, rc))

    def test_interactive_two_messages_in_order(self):
        self.mock.set_scenario("interactive")
        c = Claude(claude_args(stream_input=True, model=MODEL), cwd=self.repo, env=self.env,
                   stdin=True)
        try:
            c.send_user("first message")
            r1 = c.wait_event(lambda e: e["type"] == "result", timeout=60)
            c.send_user("second message")
            r2 = c.wait_event(lambda e: e["type"] == "result", timeout=60)
            rc = c.wait(60)
        finally:
            c.kill()
        self.assertEqual(rc, 0, self.describe(c))
        self.assertEqual((r1["result"], r2["result"]), ("echo: first message",
                                                         "echo: second message"))
        self.assertFalse(r1["is_error"] or r2["is_error"])
        self.assertEqual(c.texts(), ["echo: first message", "echo: second message"])
        self.assertEqual(len(c.of_type("system", "init")), 2, "one init line per turn")
        self.assertEqual(r1["session_id"], r2["session_id"], "one session")
        log = self.mock.requests()
        self.assertEqual([r["last_user_text"] for r in log], ["first message", "second message"])
        self.assertEqual(log[1]["user_texts"], ["first message", "second message"],
                         "the second request carries the whole conversation")

    def test_interactive_both_lines_at_once(self):
        """Both lines written before the CLI reads, then EOF on the pipe: it
        answers both, in order, and exits 0."""
        self.mock.set_scenario("interactive")
        c = Claude(claude_args(stream_input=True, model=MODEL), cwd=self.repo, env=self.env,
                   stdin=True)
        try:
            c.send_user("one")
            c.send_user("two")
            rc = c.wait(60)
        finally:
            c.kill()
        self.assertEqual(rc, 0, self.describe(c))
        self.assertEqual([r["result"] for r in c.results], ["echo: one", "echo: two"])

    def test_prompt_markers_one_mock_many_sessions(self):
        self.mock.set_scenario("write")
        run = self.run_cli("just look [mock:text text=nothing-to-do]")
        self.assertSuccess(run, "nothing-to-do")
        self.assertEqual(self.git_status(), "")
        run = self.run_cli('write it [mock:write file=MARKED.txt content="marked"]')
        self.assertSuccess(run, "Wrote MARKED.txt.")
        with open(os.path.join(self.repo, "MARKED.txt")) as f:
            self.assertEqual(f.read(), "marked")
        run = self.run_cli("fail [mock:error status=500]")
        self.assertEqual((run.rc, run.result["api_error_status"]), (1, 500))
        self.assertEqual([r["scenario"] for r in self.mock.requests()],
                         ["text", "write", "write", "error"])


class ApiKey(CliTest):
    mock_options = {"api_key": API_KEY, "scenario": "text"}

    def test_wrong_key_is_an_authentication_failure(self):
        env = dict(self.env, ANTHROPIC_API_KEY="sk-wrong")
        run = run_claude("hello", self.repo, env, timeout=90)
        self.assertEqual(run.rc, 1, self.describe(run))
        self.assertEqual((run.result["is_error"], run.result["api_error_status"]), (True, 401))
        # The real API's words for a bad key ("invalid x-api-key", as the mock
        # says) make the CLI print its own advice instead of the message.
        self.assertEqual(run.result["result"], "Invalid API key · Fix external API key")
        self.assertEqual([r["headers"]["x-api-key"] for r in self.mock.requests()], ["sk-wrong"])
        run = self.run_cli("hello")
        self.assertSuccess(run, "No changes are needed.")


if __name__ == "__main__":
    unittest.main(verbosity=2)
