# CUDA backend (owner: cuda). Included from the top-level CMakeLists.txt after the `joule` target exists.
#
#   JOULE_CUDA=AUTO  build the backend when nvcc is found (on PATH, $CUDA_PATH/bin or /usr/local/cuda/bin)
#   JOULE_CUDA=ON    require it (configure fails without nvcc)
#   JOULE_CUDA=OFF   CPU-only build, as before
#
# kernels/cuda/*.cu and *.cpp go into the object library `joule_cuda`, linked into libjoule. cudart is a
# shared library that loads without a GPU driver (libcuda is reached only through it, which reports
# "no CUDA-capable device" / "driver insufficient" at run time); cuBLAS(Lt)/cuDNN are dlopen'ed; the
# session turns that into a clear error. JOULE_WITH_CUDA=1 is defined for the few sources that test it.
string(TOUPPER "${JOULE_CUDA}" _joule_cuda_mode)
set(JOULE_CUDA_ENABLED OFF)
if(NOT _joule_cuda_mode STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(JOULE_NVCC nvcc HINTS ENV CUDA_PATH PATH_SUFFIXES bin PATHS /usr/local/cuda/bin)
    if(JOULE_NVCC)
      set(CMAKE_CUDA_COMPILER ${JOULE_NVCC} CACHE FILEPATH "CUDA compiler")
    endif()
  endif()
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # sm_80 (A100) and sm_90 (H100) machine code, plus compute_90 PTX for newer GPUs to JIT.
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90" CACHE STRING "CUDA architectures of the joule CUDA backend")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit)
  endif()
  if(CMAKE_CUDA_COMPILER AND CUDAToolkit_FOUND AND TARGET CUDA::cublasLt)
    set(JOULE_CUDA_ENABLED ON)
  elseif(_joule_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "JOULE_CUDA=ON but no CUDA toolkit with nvcc, cudart and cuBLAS(Lt) was found "
                        "(looked on PATH, $CUDA_PATH/bin and /usr/local/cuda/bin)")
  else()
    message(STATUS "joule: CUDA backend off (nvcc or cuBLAS not found; JOULE_CUDA=AUTO)")
  endif()
endif()

if(JOULE_CUDA_ENABLED)
  message(STATUS "joule: CUDA backend on (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
  # C++20 like the rest of joule; CMake 3.25 does not know nvcc's flag for it yet.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  if(CCACHE_PROGRAM)
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  endif()
  file(GLOB JOULE_CUDA_SOURCES CONFIGURE_DEPENDS
    ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cu ${CMAKE_SOURCE_DIR}/kernels/cuda/*.cpp)
  add_library(joule_cuda OBJECT ${JOULE_CUDA_SOURCES})
  target_include_directories(joule_cuda PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/runtime/include ${_proto_dir})
  target_link_libraries(joule_cuda PRIVATE CUDA::cudart CUDA::cublas CUDA::cublasLt)
  target_compile_definitions(joule_cuda PRIVATE JOULE_WITH_CUDA=1)
  # cuDNN (Conv) when its header and library sit with the toolkit (or under CUDNN_ROOT).
  find_path(JOULE_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDNN_ROOT}/include ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
  find_library(JOULE_CUDNN_LIBRARY cudnn HINTS ${CUDNN_ROOT}/lib ${CUDNN_ROOT}/lib64 ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/local/cuda/lib)
  if(JOULE_CUDNN_INCLUDE_DIR AND JOULE_CUDNN_LIBRARY)
    message(STATUS "joule: cuDNN found (${JOULE_CUDNN_LIBRARY}): Conv runs on the GPU")
    target_include_directories(joule_cuda PRIVATE ${JOULE_CUDNN_INCLUDE_DIR})
    target_compile_definitions(joule_cuda PRIVATE JOULE_WITH_CUDNN=1)
  else()
    message(STATUS "joule: cuDNN not found: Conv falls back to the CPU in CUDA sessions")
  endif()
  target_compile_options(joule_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall>)
  target_sources(joule PRIVATE $<TARGET_OBJECTS:joule_cuda>)
  # Link by file, not through the imported targets: their include directories would change the compile line
  # of every libjoule source (a full rebuild, and CUDA headers where none are needed). Likewise
  # JOULE_WITH_CUDA is defined only for the sources that test it, so other objects stay shared with the
  # CPU-only build in ccache.
  # Only cudart is linked: cuBLAS, cuBLASLt and cuDNN are dlopen'ed when the first CUDA context is made
  # (kernels/cuda/cuda_libraries.cpp) -- linking libcublasLt would add over a second to every process start.
  target_link_libraries(joule PRIVATE ${CUDA_cudart_LIBRARY})
  set_source_files_properties(${CMAKE_SOURCE_DIR}/kernels/kernel_registry.cpp ${CMAKE_SOURCE_DIR}/runtime/cuda_plan.cpp
    PROPERTIES COMPILE_DEFINITIONS JOULE_WITH_CUDA=1)
  # tests/cuda/*_test.cpp (in the tests/ directory, added later): defined when the top-level scope ends.
  function(_joule_cuda_define_for_tests)
    if(TARGET joule_tests)
      file(GLOB _cuda_tests ${CMAKE_SOURCE_DIR}/tests/cuda/*.cpp)
      set_source_files_properties(${_cuda_tests} DIRECTORY ${CMAKE_SOURCE_DIR}/tests PROPERTIES COMPILE_DEFINITIONS JOULE_WITH_CUDA=1)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _joule_cuda_define_for_tests)
  # The installed library finds the toolkit's shared libraries without LD_LIBRARY_PATH.
  set_property(TARGET joule APPEND PROPERTY INSTALL_RPATH ${CUDAToolkit_LIBRARY_DIR})
endif()

# GPU benchmark (bench/cuda_bench.cpp): joule's CUDA kernels vs cuBLAS / cuBLASLt, NVML joules.
if(JOULE_CUDA_ENABLED AND JOULE_BUILD_BENCH)
  add_executable(joule_cuda_bench ${CMAKE_SOURCE_DIR}/bench/cuda_bench.cpp)
  target_link_libraries(joule_cuda_bench PRIVATE joule CUDA::cudart CUDA::cublas CUDA::cublasLt)
endif()
