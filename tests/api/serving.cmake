# Serving layer of api.so (server, router, replies, health): unit tests of
# the router, path decoding and config, and an integration test of the REST
# server in a real ambientd against kubesim.
add_executable(test_api_router unit_router.c ${PROJECT_SOURCE_DIR}/tests/common/mockconf.c)
target_link_libraries(test_api_router PRIVATE api_obj PkgConfig::CMOCKA)
target_include_directories(test_api_router PRIVATE ${PROJECT_SOURCE_DIR}/api
                           ${PROJECT_SOURCE_DIR}/tests/common)
add_test(NAME api.unit_router COMMAND test_api_router)
set_tests_properties(api.unit_router PROPERTIES LABELS api)

api_py_test(api.serving test_serving.py)

api_unit_test(ratelimit unit_ratelimit.c)
api_py_test(api.web test_web.py)
