# Installs the runtime (component moert) into a fresh prefix, builds
# examples/embed against it with find_package(moert), and runs it on an
# artifact from moert-make-test-artifact. Driven by ctest (see CMakeLists.txt).
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR MAKE_ARTIFACT GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "install_test.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(RUN_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix} --component moert)
foreach(f include/moert/moert.h include/moert/moert.hpp include/moert/format.h)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "the install lacks ${f}")
  endif()
endforeach()
file(GLOB_RECURSE configs ${prefix}/*/moertConfig.cmake)
if(NOT configs)
  message(FATAL_ERROR "the install lacks moertConfig.cmake")
endif()
# Only the runtime's headers: no FlatBuffers, LLVM or MLIR header leaks into it.
file(GLOB_RECURSE headers RELATIVE ${prefix}/include ${prefix}/include/*)
list(SORT headers)
if(NOT headers STREQUAL "moert/format.h;moert/half.h;moert/moert.h;moert/moert.hpp;moert/moert_mpi.h")
  message(FATAL_ERROR "unexpected installed headers: ${headers}")
endif()

set(compilers)
if(C_COMPILER)
  list(APPEND compilers -DCMAKE_C_COMPILER=${C_COMPILER})
endif()
if(CXX_COMPILER)
  list(APPEND compilers -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
run(${CMAKE_COMMAND} -G ${GENERATOR} -S ${SOURCE_DIR}/examples/embed -B ${WORK_DIR}/embed
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release ${compilers})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/embed)

run(${MAKE_ARTIFACT} ${WORK_DIR}/linear.moeb)
run(${WORK_DIR}/embed/embed ${WORK_DIR}/linear.moeb)
message(STATUS "embed printed:\n${RUN_OUTPUT}")
# y = 2x + 0.5 for x = 0, 1, 2, ...: the first row is 0.5 2.5 4.5 ...
if(NOT RUN_OUTPUT MATCHES "y\\[0\\] = 0\\.5 2\\.5 4\\.5 6\\.5 8\\.5 10\\.5 12\\.5 14\\.5")
  message(FATAL_ERROR "embed printed an unexpected result:\n${RUN_OUTPUT}")
endif()
# The shared library variant links too, and the installed moe-run runs.
run(${prefix}/bin/moe-run ${WORK_DIR}/linear.moeb --version)
run(${WORK_DIR}/embed/embed_shared ${WORK_DIR}/linear.moeb)
if(NOT RUN_OUTPUT MATCHES "y\\[0\\] = 0\\.5 2\\.5 4\\.5")
  message(FATAL_ERROR "embed_shared printed an unexpected result:\n${RUN_OUTPUT}")
endif()
