# ctest driver: installs the build into a scratch prefix, builds tests/install/consumer against it with
# only CMAKE_PREFIX_PATH, runs it on add.onnx and checks the numbers, checks that the consumer does not
# need protobuf, and runs the installed bin/joule (it must find libjoule through its RPATH).
#
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX=... -P run_install_test.cmake
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_install_test.cmake: -D${v}=... is required")
  endif()
endforeach()

function(run_checked what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
run_checked("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# The consumer sees only the prefix: no joule sources, no protobuf hints.
run_checked("configuring the consumer" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/install/consumer -B ${WORK_DIR}/build
            -G ${GENERATOR} -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${prefix})
run_checked("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build)

set(model ${SOURCE_DIR}/tests/install/add.onnx)
run_checked("running the consumer" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${WORK_DIR}/build/joule_consumer ${model})
if(NOT last_output MATCHES "y float32 2x3: 1 3 5 7 9 11")
  message(FATAL_ERROR "consumer printed the wrong result:\n${last_output}")
endif()
message(STATUS "consumer: ${last_output}")

find_program(READELF readelf)
if(READELF)
  run_checked("readelf" ${READELF} -d ${WORK_DIR}/build/joule_consumer)
  if(last_output MATCHES "libprotobuf")
    message(FATAL_ERROR "the consumer links protobuf directly; joule must keep it private:\n${last_output}")
  endif()
endif()

# The installed CLI finds libjoule through RPATH ($ORIGIN/../lib), with no LD_LIBRARY_PATH.
file(GLOB joule_cli ${prefix}/bin/joule)
if(NOT joule_cli)
  message(FATAL_ERROR "bin/joule was not installed into ${prefix}")
endif()
run_checked("installed bin/joule inspect" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${prefix}/bin/joule inspect ${model})
run_checked("installed bin/joule --help" ${CMAKE_COMMAND} -E env --unset=LD_LIBRARY_PATH ${prefix}/bin/joule --help)
message(STATUS "install test passed (prefix ${prefix})")
