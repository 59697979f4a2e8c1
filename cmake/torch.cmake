# LibTorch from the PyPI `torch` wheel (pinned in scripts/requirements.txt), found through
# `python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'` unless Torch_DIR or
# CMAKE_PREFIX_PATH already points at a LibTorch.
#
# Two ways to link it, one target for the code (closerlook_torch):
# - CPU build (default): libtorch_cpu + libc10 only, set up by hand from the wheel's folders.
#   The PyPI wheel is a CUDA build, and its TorchConfig.cmake insists on a CUDA toolkit; a CPU
#   user needs none, and a CPU binary that does not load libtorch_cuda (500 MB, plus cuDNN and
#   cuBLAS) starts in a fraction of the time, which matters for a test suite that runs the CLI
#   hundreds of times.
# - CUDA build (CLOSERLOOK_CUDA=ON, preset `cuda`): TorchConfig.cmake with the machine's CUDA
#   toolkit, so `--device cuda` works wherever the driver and a GPU are.
option(CLOSERLOOK_CUDA "Link LibTorch's CUDA libraries (needs the CUDA toolkit)" OFF)
set(CLOSERLOOK_PYTHON "python3" CACHE STRING "Python whose torch wheel provides LibTorch")

if(NOT Torch_DIR AND NOT CLOSERLOOK_TORCH_ROOT)
  execute_process(
    COMMAND ${CLOSERLOOK_PYTHON} -c "import torch, os; print(os.path.dirname(torch.__file__))"
    OUTPUT_VARIABLE _cl_torch_root OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _cl_rc
    ERROR_QUIET)
  if(NOT _cl_rc EQUAL 0 OR NOT EXISTS "${_cl_torch_root}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "closerlook: no LibTorch found. Install the pinned wheel "
                        "(python3 -m pip install -r scripts/requirements.txt, or scripts/setup), "
                        "or pass -DCLOSERLOOK_TORCH_ROOT=<folder with include/ lib/ share/cmake>.")
  endif()
  set(CLOSERLOOK_TORCH_ROOT "${_cl_torch_root}" CACHE PATH "LibTorch root (the torch wheel's package folder)")
elseif(Torch_DIR AND NOT CLOSERLOOK_TORCH_ROOT)
  get_filename_component(CLOSERLOOK_TORCH_ROOT "${Torch_DIR}/../../.." ABSOLUTE)
endif()

# The version, from the wheel's own CMake version file (no Python needed to read it).
file(STRINGS "${CLOSERLOOK_TORCH_ROOT}/share/cmake/Torch/TorchConfigVersion.cmake" _cl_v
     REGEX "set\\(PACKAGE_VERSION ")
string(REGEX REPLACE ".*\"([0-9.]+).*" "\\1" CLOSERLOOK_TORCH_VERSION "${_cl_v}")
if(CLOSERLOOK_TORCH_VERSION VERSION_LESS 2.0)
  message(FATAL_ERROR "closerlook needs LibTorch 2.x; ${CLOSERLOOK_TORCH_ROOT} is ${CLOSERLOOK_TORCH_VERSION}")
endif()

add_library(closerlook_torch INTERFACE)
if(CLOSERLOOK_CUDA)
  list(APPEND CMAKE_PREFIX_PATH "${CLOSERLOOK_TORCH_ROOT}/share/cmake")
  # closerlook compiles no CUDA code, but TorchConfig try-runs a CUDA program to detect GPUs,
  # which fails with C++20 propagated to CUDA (CMake 3.25 knows no CUDA20 flag for nvcc). The
  # arch list only matters for CUDA sources; a given one skips the detection.
  set(CMAKE_CUDA_STANDARD 17)
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  endif()
  find_package(Torch REQUIRED)
  if(NOT TORCH_CUDA_LIBRARIES AND NOT TARGET torch_cuda)
    message(FATAL_ERROR "CLOSERLOOK_CUDA=ON but ${CLOSERLOOK_TORCH_ROOT} is a CPU-only LibTorch")
  endif()
  target_link_libraries(closerlook_torch INTERFACE ${TORCH_LIBRARIES})
  target_compile_definitions(closerlook_torch INTERFACE CL_WITH_CUDA=1)
  # The wheel's libtorch_cuda.so has no RUNPATH: Python preloads the CUDA libraries of the
  # nvidia-* wheels it depends on (site-packages/nvidia/<name>/lib). A C++ binary must name those
  # folders itself, for the link (-rpath-link is searched before the toolkit folder that CMake
  # puts in the RPATH, whose older NCCL lacks symbols the wheel uses) and at run time.
  file(GLOB _cl_nv_dirs LIST_DIRECTORIES true "${CLOSERLOOK_TORCH_ROOT}/../nvidia/*/lib")
  foreach(d ${_cl_nv_dirs})
    get_filename_component(d "${d}" ABSOLUTE)
    target_link_options(closerlook_torch INTERFACE "-Wl,-rpath,${d}" "-Wl,-rpath-link,${d}")
  endforeach()
  target_link_options(closerlook_torch INTERFACE "-Wl,-rpath,${CLOSERLOOK_TORCH_ROOT}/lib")
  # LibTorch's CUDA code is registered by static initialisers in libtorch_cuda.so: keep the
  # library even though no symbol of ours refers to it.
  target_link_options(closerlook_torch INTERFACE "-Wl,--no-as-needed")
else()
  set(_cl_lib "${CLOSERLOOK_TORCH_ROOT}/lib")
  foreach(l torch_cpu c10)
    if(NOT EXISTS "${_cl_lib}/lib${l}.so")
      message(FATAL_ERROR "closerlook: ${_cl_lib}/lib${l}.so not found (LibTorch at ${CLOSERLOOK_TORCH_ROOT})")
    endif()
  endforeach()
  target_include_directories(closerlook_torch SYSTEM INTERFACE
    "${CLOSERLOOK_TORCH_ROOT}/include" "${CLOSERLOOK_TORCH_ROOT}/include/torch/csrc/api/include")
  target_link_libraries(closerlook_torch INTERFACE "${_cl_lib}/libtorch_cpu.so" "${_cl_lib}/libc10.so")
  # The wheel's libraries find their own dependencies (libgomp, ...) through $ORIGIN; our
  # binaries find the wheel's folder through their RPATH.
  target_link_options(closerlook_torch INTERFACE "-Wl,-rpath,${_cl_lib}")
endif()
# The same C++ ABI as the wheel (new ABI since 2.x wheels; stated rather than assumed).
target_compile_definitions(closerlook_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
# fmt: the headers shipped inside the wheel (LibTorch builds with them), header-only, so there is
# one fmt in the process and no second system copy to keep in step.
target_compile_definitions(closerlook_torch INTERFACE FMT_HEADER_ONLY=1)
message(STATUS "closerlook: LibTorch ${CLOSERLOOK_TORCH_VERSION} at ${CLOSERLOOK_TORCH_ROOT} "
               "(${CLOSERLOOK_CUDA}: CUDA)")
