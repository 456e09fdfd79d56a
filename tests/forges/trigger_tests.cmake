# The webhook trigger (plugins/forgekit/trigger.h) in a real ambientd with
# the api, projectsettings and agenticsession plugins against kubesim,
# through a stand-in forge route (plugins/trigger_probe.c).
amb_add_plugin(trigger_probe SOURCES ${CMAKE_CURRENT_LIST_DIR}/plugins/trigger_probe.c
               LIBS forgekit OUTPUT_DIR ${AMBIENT_TEST_PLUGIN_DIR} NO_INSTALL)
add_test(NAME forges.trigger
         COMMAND ${AMBIENT_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_trigger.py)
# The environment tests/api/apiharness.py reads, and the probe.
set_tests_properties(forges.trigger PROPERTIES TIMEOUT 180 LABELS forges ENVIRONMENT
  "AMBIENTD=$<TARGET_FILE:ambientd>;KUBESIM=${PROJECT_SOURCE_DIR}/tests/kubesim/kubesim;CRD_DIR=${PROJECT_SOURCE_DIR}/deploy/crds;RBAC_DIR=${PROJECT_SOURCE_DIR}/deploy/rbac;API_PLUGIN=$<TARGET_FILE:api>;AS_PLUGIN=$<TARGET_FILE:agenticsession>;PS_PLUGIN=$<TARGET_FILE:projectsettings>;TRIGGER_PROBE=$<TARGET_FILE:trigger_probe>")
add_executable(unit_trigger ${CMAKE_CURRENT_LIST_DIR}/unit_trigger.c)
target_link_libraries(unit_trigger PRIVATE forgekit PkgConfig::CMOCKA)
add_test(NAME forges.unit_trigger COMMAND unit_trigger)
set_tests_properties(forges.unit_trigger PROPERTIES LABELS forges)
