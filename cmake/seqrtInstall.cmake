# `cmake --install`: libseqrt (shared and/or static), the headers, the seqrt
# tool, the CMake package (find_package(seqrt) -> seqrt::seqrt) and the
# pkg-config files. Included from the top-level CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(SEQRT_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/seqrt)

install(TARGETS ${SEQRT_PUBLIC_LIBRARIES} EXPORT seqrtTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
          NAMELINK_COMPONENT development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS seqrt_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/include/seqrt.h
              ${PROJECT_SOURCE_DIR}/include/seqrt.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development)
# The bundled models `seqrt` (no arguments) checks, found relative to the
# installed tool: <prefix>/bin/seqrt -> <prefix>/share/seqrt/examples.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/examples
        DESTINATION ${CMAKE_INSTALL_DATADIR}/seqrt COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT development)

# The CMake package. Until 1.0 a minor release may break compatibility, so
# find_package(seqrt 0.1) accepts 0.1.x only; from 1.0 on, the same major.
install(EXPORT seqrtTargets NAMESPACE seqrt::
        DESTINATION ${SEQRT_INSTALL_CMAKEDIR} COMPONENT development)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/seqrtConfig.cmake.in
  ${PROJECT_BINARY_DIR}/seqrtConfig.cmake
  INSTALL_DESTINATION ${SEQRT_INSTALL_CMAKEDIR})
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(SEQRT_COMPATIBILITY SameMinorVersion)
else()
  set(SEQRT_COMPATIBILITY SameMajorVersion)
endif()
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/seqrtConfigVersion.cmake
  COMPATIBILITY ${SEQRT_COMPATIBILITY})
install(FILES ${PROJECT_BINARY_DIR}/seqrtConfig.cmake
              ${PROJECT_BINARY_DIR}/seqrtConfigVersion.cmake
        DESTINATION ${SEQRT_INSTALL_CMAKEDIR} COMPONENT development)

# pkg-config: seqrt.pc (the shared library; `pkg-config --static` for an
# install that only has libseqrt.a) and seqrt-static.pc (always the archive).
# They are written at install time, for the prefix actually installed to,
# which `cmake --install --prefix` may change after configuring.
set(SEQRT_PC_LIBS_PRIVATE "-ldnnl")
foreach(lib ${OpenMP_C_LIB_NAMES})
  string(APPEND SEQRT_PC_LIBS_PRIVATE " -l${lib}")
endforeach()
string(APPEND SEQRT_PC_LIBS_PRIVATE " -lm")
set(SEQRT_PC_TEMPLATES ${PROJECT_SOURCE_DIR}/seqrt.pc.in)
if(SEQRT_BUILD_STATIC)
  list(APPEND SEQRT_PC_TEMPLATES ${PROJECT_SOURCE_DIR}/cmake/seqrt-static.pc.in)
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/seqrtInstallPkgConfig.cmake.in
               ${PROJECT_BINARY_DIR}/seqrtInstallPkgConfig.cmake @ONLY)
install(SCRIPT ${PROJECT_BINARY_DIR}/seqrtInstallPkgConfig.cmake
        COMPONENT development)
