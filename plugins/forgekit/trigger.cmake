# forgekit_trigger: a forge webhook's trigger -> AgenticSessions, and the
# webhook route parts every forge shares (trigger.h). A static library of
# position-independent code, linked into each forge MODULE and the tests.
add_library(forgekit_trigger STATIC
  ${CMAKE_CURRENT_LIST_DIR}/trigger.c
  ${CMAKE_CURRENT_LIST_DIR}/webhook.c)
set_target_properties(forgekit_trigger PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)
target_include_directories(forgekit_trigger PUBLIC
  ${PROJECT_SOURCE_DIR}/core/include ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(forgekit_trigger PUBLIC PkgConfig::JANSSON OpenSSL::Crypto)
