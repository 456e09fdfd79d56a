# Generic kind routes (api/routes_kinds.c) and the session routes
# (api/routes_sessions.c), against kubesim with users of different rights.
api_py_test(api.kinds test_kinds.py)
api_py_test(api.sessions test_sessions.py)
