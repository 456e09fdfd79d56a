# Live updates (api/live): unit tests of the WebSocket framing, the HTTP/1.1
# parser and the event store, and the integration tests against ambientd
# (test_live_abuse.py: what an adversary tried, each fix as a user sees it).
api_unit_test(ws unit_ws.c)
api_unit_test(store unit_store.c)

api_py_test(api.live test_live.py)
api_py_test(api.live_abuse test_live_abuse.py)
# The LangFuse export (api/live/langfuse*.c): the batch it builds from
# hostile input, and a session's run exported to a mock LangFuse.
api_unit_test(langfuse_batch unit_langfuse_batch.c)
api_py_test(api.langfuse test_langfuse.py)
