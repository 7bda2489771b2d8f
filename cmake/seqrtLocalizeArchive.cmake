# Rewrites a static archive as one relocatable object in which every hidden
# symbol is local: only the SEQRT_API (default visibility) functions remain
# global, exactly what the shared library exports.
# cmake -DARCHIVE=libseqrt.a -DLINKER=ld -DOBJCOPY=objcopy -DAR=ar -P this
foreach(var ARCHIVE LINKER OBJCOPY AR)
  if(NOT ${var})
    message(FATAL_ERROR "seqrtLocalizeArchive: ${var} is not set")
  endif()
endforeach()
set(object "${ARCHIVE}.prelinked.o")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    string(JOIN " " command ${ARGN})
    message(FATAL_ERROR "seqrtLocalizeArchive: '${command}' failed: ${status}")
  endif()
endfunction()
run(${LINKER} -r -o ${object} --whole-archive ${ARCHIVE})
run(${OBJCOPY} --localize-hidden ${object})
file(REMOVE ${ARCHIVE})
run(${AR} rcs ${ARCHIVE} ${object})
file(REMOVE ${object})
