# Projects, permissions, project settings and runner secrets
# (api/routes_projects.c, routes_permissions.c, routes_settings.c) against
# kubesim with users of different rights.
api_py_test(api.projects test_projects.py)
