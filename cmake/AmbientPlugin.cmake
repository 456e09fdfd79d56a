# amb_add_plugin(NAME SOURCES src... [LIBS lib...] [OUTPUT_DIR dir] [NO_INSTALL]
#                [INCLUDE_DIRS dir...])
#
# Adds a plugin twice from the same sources:
#   NAME_obj  an OBJECT library, so unit tests link the plugin's logic directly
#   NAME      a MODULE (NAME.so, no "lib" prefix) with hidden visibility and
#             -z defs, so only the entry symbol is exported and every other
#             symbol the plugin needs is resolved when it is linked.
function(amb_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "OUTPUT_DIR" "SOURCES;LIBS;INCLUDE_DIRS" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "amb_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT P_INCLUDE_DIRS)
    set(P_INCLUDE_DIRS ${PROJECT_SOURCE_DIR}/core/include)
  endif()
  if(NOT P_OUTPUT_DIR)
    set(P_OUTPUT_DIR ${AMBIENT_PLUGIN_OUTPUT_DIR})
  endif()

  add_library(${name}_obj OBJECT ${P_SOURCES})
  set_target_properties(${name}_obj PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden)
  target_include_directories(${name}_obj PUBLIC ${P_INCLUDE_DIRS})
  target_link_libraries(${name}_obj PUBLIC ${P_LIBS})

  add_library(${name} MODULE $<TARGET_OBJECTS:${name}_obj>)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  target_link_libraries(${name} PRIVATE ${P_LIBS})
  target_link_options(${name} PRIVATE -Wl,-z,defs)

  if(NOT P_NO_INSTALL)
    install(TARGETS ${name} LIBRARY DESTINATION ${AMBIENT_PLUGIN_SUBDIR})
  endif()
endfunction()
