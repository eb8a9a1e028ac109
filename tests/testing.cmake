# ttvm_unit_test(NAME SRC...): a C test program linked with ttvm_lib, run by CTest
# with the label "unit".  Tests print "ok"/"FAIL" lines via tests/testlib.h.
function(ttvm_unit_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ttvm_lib)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()
