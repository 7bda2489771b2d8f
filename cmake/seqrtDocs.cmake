# The `docs` target: the API reference from the comments in include/seqrt.h
# and include/seqrt.hpp, with Doxygen (Debian: doxygen), into
# <build>/docs/html. Any Doxygen warning fails the target (WARN_AS_ERROR).
find_package(Doxygen QUIET)
if(NOT DOXYGEN_FOUND)
  message(STATUS "Doxygen not found: no `docs` target (apt-get install doxygen)")
  return()
endif()
set(SEQRT_DOCS_OUTPUT ${PROJECT_BINARY_DIR}/docs)
configure_file(${PROJECT_SOURCE_DIR}/Doxyfile.in ${PROJECT_BINARY_DIR}/Doxyfile
               @ONLY)
add_custom_target(docs
  COMMAND ${CMAKE_COMMAND} -E make_directory ${SEQRT_DOCS_OUTPUT}
  COMMAND Doxygen::doxygen ${PROJECT_BINARY_DIR}/Doxyfile
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
  COMMENT "API reference with Doxygen: ${SEQRT_DOCS_OUTPUT}/html/index.html"
  VERBATIM)
install(DIRECTORY ${SEQRT_DOCS_OUTPUT}/html DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT docs OPTIONAL)
