# Fails the configure step when include/seqrt.h's SEQRT_VERSION_* macros do
# not match project(VERSION): the header, seqrt_version(), the CMake
# package version and the SOVERSION must all tell the same version.
file(STRINGS ${PROJECT_SOURCE_DIR}/include/seqrt.h _seqrt_version_lines
     REGEX "^#define SEQRT_VERSION_(MAJOR|MINOR|PATCH|STRING) ")
foreach(part MAJOR MINOR PATCH STRING)
  set(_seqrt_header_${part} "")
  foreach(line ${_seqrt_version_lines})
    if(line MATCHES "^#define SEQRT_VERSION_${part} +\"?([0-9.]+)\"?")
      set(_seqrt_header_${part} ${CMAKE_MATCH_1})
    endif()
  endforeach()
endforeach()
set(_seqrt_header_version
    "${_seqrt_header_MAJOR}.${_seqrt_header_MINOR}.${_seqrt_header_PATCH}")
if(NOT _seqrt_header_version STREQUAL PROJECT_VERSION
   OR NOT _seqrt_header_STRING STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR
    "Version mismatch: project(VERSION ${PROJECT_VERSION}) in CMakeLists.txt, "
    "but include/seqrt.h has SEQRT_VERSION_MAJOR/MINOR/PATCH "
    "${_seqrt_header_version} and SEQRT_VERSION_STRING "
    "\"${_seqrt_header_STRING}\". Update both together (and CHANGELOG.md).")
endif()
