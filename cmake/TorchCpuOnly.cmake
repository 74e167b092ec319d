# A CPU-only view of a LibTorch: the `torch` target with libtorch_cpu and libc10 alone.
#
# Why not find_package(Torch): PyPI's Linux torch wheel is a CUDA build, and its
# Caffe2Config.cmake stops without a CUDA toolkit even when nothing CUDA is wanted.
# Everything hardy_dist's CPU build uses lives in libtorch_cpu (ATen, autograd, the C++
# frontend) and libc10; libtorch.so would pull in libtorch_cuda and its libraries.
#
# Input:  CMAKE_PREFIX_PATH naming the torch folder (<site>/torch, or a libtorch root).
# Output: imported target `torch`, TORCH_LIBRARIES, Torch_DIR, Torch_VERSION,
#         TORCH_CXX_FLAGS (as find_package(Torch) would set them).
set(_hardy_torch_root "")
foreach(_p IN LISTS CMAKE_PREFIX_PATH)
  if(EXISTS "${_p}/share/cmake/Torch/TorchConfig.cmake" AND EXISTS "${_p}/include/torch/csrc/api/include/torch/torch.h")
    set(_hardy_torch_root "${_p}")
    break()
  endif()
endforeach()
if(NOT _hardy_torch_root)
  message(FATAL_ERROR "HARDY_TORCH_CPU_ONLY: no LibTorch in CMAKE_PREFIX_PATH (${CMAKE_PREFIX_PATH}); "
                      "pass -DCMAKE_PREFIX_PATH=<site>/torch (scripts/torch.sh prints <site>)")
endif()
get_filename_component(_hardy_torch_root "${_hardy_torch_root}" ABSOLUTE)
set(Torch_DIR "${_hardy_torch_root}/share/cmake/Torch")

set(Torch_VERSION "")
if(EXISTS "${_hardy_torch_root}/version.py")                 # a wheel
  file(STRINGS "${_hardy_torch_root}/version.py" _v REGEX "^__version__")
  if(_v MATCHES "'([0-9]+\\.[0-9]+\\.[0-9]+)")
    set(Torch_VERSION "${CMAKE_MATCH_1}")
  endif()
elseif(EXISTS "${_hardy_torch_root}/build-version")         # a libtorch zip
  file(READ "${_hardy_torch_root}/build-version" _v)
  if(_v MATCHES "^([0-9]+\\.[0-9]+\\.[0-9]+)")
    set(Torch_VERSION "${CMAKE_MATCH_1}")
  endif()
endif()
if(NOT Torch_VERSION OR Torch_VERSION VERSION_LESS 2.7)
  message(FATAL_ERROR "HARDY_TORCH_CPU_ONLY: LibTorch at ${_hardy_torch_root} is '${Torch_VERSION}'; "
                      "hardy_dist needs >= 2.7 (C++11 ABI, C++20 headers). scripts/torch.sh pins one.")
endif()

find_library(HARDY_TORCH_CPU_LIBRARY torch_cpu PATHS "${_hardy_torch_root}/lib" NO_DEFAULT_PATH REQUIRED)
find_library(HARDY_C10_LIBRARY c10 PATHS "${_hardy_torch_root}/lib" NO_DEFAULT_PATH REQUIRED)
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")
add_library(torch INTERFACE IMPORTED)
set_target_properties(torch PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${_hardy_torch_root}/include;${_hardy_torch_root}/include/torch/csrc/api/include"
  INTERFACE_COMPILE_DEFINITIONS "_GLIBCXX_USE_CXX11_ABI=1"
  # --no-as-needed: libtorch_cpu registers the CPU kernels in static initialisers; a
  # target that happens to reference only c10 symbols must still load it.
  INTERFACE_LINK_LIBRARIES "-Wl,--no-as-needed;${HARDY_TORCH_CPU_LIBRARY};${HARDY_C10_LIBRARY};-Wl,--as-needed")
set(TORCH_LIBRARIES torch)
set(Torch_FOUND TRUE)
message(STATUS "hardy_dist: CPU-only LibTorch ${Torch_VERSION}: ${HARDY_TORCH_CPU_LIBRARY}")
