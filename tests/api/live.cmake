# Live updates (api/live): unit tests of the WebSocket framing, the HTTP/1.1
# parser and the event store, and the integration test against ambientd.
add_executable(test_api_unit_ws unit_ws.c)
target_link_libraries(test_api_unit_ws PRIVATE api_obj PkgConfig::CMOCKA)
target_include_directories(test_api_unit_ws PRIVATE ${PROJECT_SOURCE_DIR}/api)
add_test(NAME api.unit_ws COMMAND test_api_unit_ws)
set_tests_properties(api.unit_ws PROPERTIES LABELS api)

add_executable(test_api_unit_store unit_store.c)
target_link_libraries(test_api_unit_store PRIVATE api_obj PkgConfig::CMOCKA)
target_include_directories(test_api_unit_store PRIVATE ${PROJECT_SOURCE_DIR}/api)
add_test(NAME api.unit_store COMMAND test_api_unit_store)
set_tests_properties(api.unit_store PROPERTIES LABELS api)

api_py_test(api.live test_live.py)
