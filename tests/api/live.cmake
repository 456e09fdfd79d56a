# Live updates (api/live): unit tests of the WebSocket framing, the HTTP/1.1
# parser and the event store, and the integration test against ambientd.
api_unit_test(ws unit_ws.c)
api_unit_test(store unit_store.c)

api_py_test(api.live test_live.py)
