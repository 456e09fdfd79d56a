# Generic kind routes (api/routes_kinds.c) and the session routes
# (plugins/agenticsession/routes.c, create.c), against kubesim with users of different rights.
api_py_test(api.kinds test_kinds.py)
api_py_test(api.sessions test_sessions.py)
# Kubernetes' error messages in Ambient's words (api/wording.c).
api_py_test(api.wording test_wording.py)
api_unit_test(wording unit_wording.c)
# GET and LIST of kinds from the api role's own watch (api/read_cache.c).
api_py_test(api.read_cache test_read_cache.py)
