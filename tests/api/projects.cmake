# Projects, permissions, project settings and runner secrets
# (api/routes_projects.c, routes_permissions.c, plugins/projectsettings/routes.c) against
# kubesim with users of different rights.
api_py_test(api.projects test_projects.py)
# Every /api/projects/:project/... route, REST and live, built-in and a
# plugin's, needs a managed namespace (api/project_gate.c).
api_py_test(api.project_gate test_project_gate.py)
