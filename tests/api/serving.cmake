# Serving layer of api.so (server, router, replies, health): unit tests of
# the router, path decoding and config, and an integration test of the REST
# server in a real ambientd against kubesim.
add_executable(test_api_router unit_router.c ${PROJECT_SOURCE_DIR}/tests/common/plugin_mock.c
               ${PROJECT_SOURCE_DIR}/tests/common/mockconf.c)
target_link_libraries(test_api_router PRIVATE api_obj ambient PkgConfig::CMOCKA)
target_include_directories(test_api_router PRIVATE ${PROJECT_SOURCE_DIR}/api
                           ${PROJECT_SOURCE_DIR}/tests/common)
add_test(NAME api.unit_router COMMAND test_api_router)
set_tests_properties(api.unit_router PROPERTIES LABELS api)

api_py_test(api.serving test_serving.py)

api_unit_test(ratelimit unit_ratelimit.c)
api_unit_test(route_metrics unit_route_metrics.c)
api_py_test(api.web test_web.py)

# The web UI in Debian's chromium against kubesim and laptop mode
# (tests/web/test_browser.py; label web). Needs the built UI (AMBIENT_WEB).
if(AMBIENT_WEB)
  find_program(AMBIENT_NODE node REQUIRED)
  find_program(AMBIENT_CHROMIUM chromium DOC "Debian's chromium, for the web UI's browser tests")
  if(NOT AMBIENT_CHROMIUM)
    set(AMBIENT_CHROMIUM /usr/bin/chromium) # the test fails naming it; install-deps.sh installs it
  endif()
  # Component tests (Vitest, jsdom).
  add_test(NAME web.unit COMMAND ${AMBIENT_NPM} run --silent test
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/api/web)
  set_tests_properties(web.unit PROPERTIES TIMEOUT 180 LABELS web)
  add_test(NAME web.browser COMMAND ${AMBIENT_TEST_PYTHON}
           ${PROJECT_SOURCE_DIR}/tests/web/test_browser.py)
  set_tests_properties(web.browser PROPERTIES TIMEOUT 400 LABELS web ENVIRONMENT
    "${API_TEST_ENV};CLAUDE_CLI=${CLAUDE_CLI};FAKE_CLAUDE=${PROJECT_SOURCE_DIR}/tests/runner/fake_claude.py;NODE=${AMBIENT_NODE};CHROMIUM=${AMBIENT_CHROMIUM};WEB_ROOT=${CMAKE_BINARY_DIR}/share/ambient/web;WEB_RUNNER=${PROJECT_SOURCE_DIR}/api/web/tests/browser/run.mjs;WEB_SCREENSHOTS=${CMAKE_BINARY_DIR}/web-screenshots")
endif()
