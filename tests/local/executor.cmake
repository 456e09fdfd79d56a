# The local executor (local/executor*.c) through its test driver, against
# kubesim: Jobs by hand with a fake runner, and tests/runner's Stack with
# the executor in podsim's place (RUNNER_TEST_ENV comes from tests/runner).
add_executable(executor_main executor_main.c)
target_include_directories(executor_main PRIVATE ${PROJECT_SOURCE_DIR}/core/src)
target_link_libraries(executor_main PRIVATE ambient_local)
add_test(NAME local.executor
         COMMAND ${AMBIENT_TEST_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_executor.py)
set_tests_properties(local.executor PROPERTIES TIMEOUT 900 LABELS local
                     ENVIRONMENT "${RUNNER_TEST_ENV};EXECUTOR=$<TARGET_FILE:executor_main>")
