# ttvm_unit_test(NAME SRC...): a C test program linked with ttvm_lib, run by CTest
# with the label "unit".  Tests print "ok"/"FAIL" lines via tests/testlib.h.
function(ttvm_unit_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE ttvm_lib)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# Where each test that needs KVM runs: this function is the one list.
#
# ttvm_kvm_test(NAME name COMMAND cmd args...
#               [WORKING_DIRECTORY dir] [LABELS label...] [ENVIRONMENT K=V...]
#               [TIMEOUT sec] [SVM_NEEDS gdb] [SVM_SKIP reason] [SELF_SKIP])
#
# adds two CTest tests:
#  - NAME on this machine's KVM (label "kvm"), skipped with the reason where
#    /dev/kvm does not exist (tests/needs-kvm), failing where it exists but
#    cannot be used;
#  - svm:NAME, the same command with the same working directory and
#    environment inside the SVM test host (tests/svm-host; label "svm"),
#    run there by the svm-host batch that is its fixture.
# Every KVM test thus runs on both hosts.  SVM_SKIP "reason" keeps it off the
# SVM test host: svm:NAME then reports a skip with that reason, which must
# be one a reader can check.  SVM_NEEDS gdb puts gdb into the SVM host's
# initramfs.  The command runs there at the same absolute paths (the SVM
# host mirrors the build's tests/ and ttvm and the source tree's tests/), so
# it may name any file of those trees.  Exit status 77 means "skipped".
# SELF_SKIP: the command itself skips where it needs /dev/kvm and there is
# none, with needs-kvm's words, naming svm:$TTVM_KVM_TEST (the guest and gdb
# runners: some of their lines need no KVM and run anyway).
function(ttvm_kvm_test)
  cmake_parse_arguments(PARSE_ARGV 0 K "SELF_SKIP" "NAME;WORKING_DIRECTORY;TIMEOUT;SVM_SKIP"
                        "COMMAND;LABELS;ENVIRONMENT;SVM_NEEDS")
  if(NOT K_NAME OR NOT K_COMMAND)
    message(FATAL_ERROR "ttvm_kvm_test: NAME and COMMAND are required")
  endif()
  if(K_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "ttvm_kvm_test(${K_NAME}): unknown arguments ${K_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT K_NAME MATCHES "^[A-Za-z0-9_.+-]+$")
    message(FATAL_ERROR "ttvm_kvm_test: name '${K_NAME}' has characters other than [A-Za-z0-9_.+-]")
  endif()
  get_property(known GLOBAL PROPERTY TTVM_KVM_TESTS)
  if(K_NAME IN_LIST known)
    message(FATAL_ERROR "ttvm_kvm_test: duplicate test name ${K_NAME}")
  endif()
  if(NOT K_WORKING_DIRECTORY)
    set(K_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  if(NOT K_TIMEOUT)
    set(K_TIMEOUT 300)
  endif()
  if(K_SELF_SKIP)
    add_test(NAME ${K_NAME} COMMAND ${K_COMMAND} WORKING_DIRECTORY ${K_WORKING_DIRECTORY})
    # The runners name the twin in their skip line.
    list(APPEND K_LOCAL_ENV TTVM_KVM_TEST=${K_NAME})
  else()
    add_test(NAME ${K_NAME}
             COMMAND sh ${PROJECT_SOURCE_DIR}/tests/needs-kvm ${K_NAME} ${K_COMMAND}
             WORKING_DIRECTORY ${K_WORKING_DIRECTORY})
  endif()
  set_tests_properties(${K_NAME} PROPERTIES LABELS "kvm;${K_LABELS}" SKIP_RETURN_CODE 77
                       TIMEOUT ${K_TIMEOUT})
  set(local_env ${K_ENVIRONMENT} ${K_LOCAL_ENV})
  if(local_env)
    set_tests_properties(${K_NAME} PROPERTIES ENVIRONMENT "${local_env}")
  endif()

  # The SVM host's copy, one block of tests/svm-host/run's test list
  # (BUILD/svm-host/tests.list, written at generate time so that generator
  # expressions such as $<TARGET_FILE:ttvm> are resolved).
  set(block "test ${K_NAME}\ndir ${K_WORKING_DIRECTORY}\ntimeout ${K_TIMEOUT}\n")
  if(K_SVM_SKIP)
    string(REPLACE "\n" " " reason "${K_SVM_SKIP}")
    string(APPEND block "skip ${reason}\n")
  endif()
  foreach(n IN LISTS K_SVM_NEEDS)
    string(APPEND block "needs ${n}\n")
  endforeach()
  foreach(e IN LISTS K_ENVIRONMENT)
    string(APPEND block "env ${e}\n")
  endforeach()
  foreach(a IN LISTS K_COMMAND)
    if(a MATCHES "\n")
      message(FATAL_ERROR "ttvm_kvm_test(${K_NAME}): an argument holds a newline")
    endif()
    string(APPEND block "arg ${a}\n")
  endforeach()
  string(APPEND block "end\n")
  set_property(GLOBAL APPEND PROPERTY TTVM_KVM_TESTS ${K_NAME})
  set_property(GLOBAL APPEND_STRING PROPERTY TTVM_SVM_LIST "${block}")
endfunction()

# ttvm_kvm_unit_test(NAME SRC... [ARGS arg...]): a C test program linked with
# ttvm_lib that needs KVM: built like ttvm_unit_test, registered on both
# hosts by ttvm_kvm_test (labels "unit;kvm").
function(ttvm_kvm_unit_test name)
  cmake_parse_arguments(PARSE_ARGV 1 U "" "" "ARGS")
  add_executable(${name} ${U_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ttvm_lib)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  ttvm_kvm_test(NAME ${name} COMMAND $<TARGET_FILE:${name}> ${U_ARGS} LABELS unit TIMEOUT 120)
endfunction()

# ttvm_manifest_names(FILE VAR): the test names of a manifest such as
# tests/gdb/tests.list (the first "|"-separated field of every line that is
# not blank or a "#" comment), each checked; a configure dependency on FILE.
function(ttvm_manifest_names file var)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${file})
  file(STRINGS ${file} lines)
  set(names)
  foreach(line IN LISTS lines)
    if(line MATCHES "^[ \t]*(#|$)")
      continue()
    endif()
    if(NOT line MATCHES "^[ \t]*([A-Za-z0-9_.+-]+)[ \t]*\\|")
      message(FATAL_ERROR "${file}: cannot parse line: ${line}")
    endif()
    list(APPEND names ${CMAKE_MATCH_1})
  endforeach()
  set(${var} ${names} PARENT_SCOPE)
endfunction()
