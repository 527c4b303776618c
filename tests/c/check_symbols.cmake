# check_symbols.cmake — the library exports exactly the functions of mlxprim.h.
#
#   cmake -DHEADER=mlxprim.h -DLIB=libmlxprim.so.0 -DSONAME=libmlxprim.so.0
#         -DNM=nm -DREADELF=readelf -P check_symbols.cmake
#
# Compares the header's function names with `nm -D --defined-only`: equal sets, and no
# other defined dynamic symbol (Go runtime or cgo internals would otherwise leak into every
# host process). Also checks the SONAME.
cmake_minimum_required(VERSION 3.20)
include(${CMAKE_CURRENT_LIST_DIR}/header_parse.cmake)

foreach(v HEADER LIB SONAME NM READELF)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check_symbols.cmake: -D${v}=... is required")
  endif()
endforeach()

mlxp_header_functions("${HEADER}" declared)
list(LENGTH declared n_declared)
if(n_declared EQUAL 0)
  message(FATAL_ERROR "no functions found in ${HEADER}")
endif()

execute_process(COMMAND ${NM} -D --defined-only ${LIB}
  OUTPUT_VARIABLE nm_out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D --defined-only ${LIB} failed (${rc})")
endif()
string(REPLACE ";" "," nm_out "${nm_out}")
string(REPLACE "\n" ";" nm_lines "${nm_out}")
set(exported "")
foreach(line IN LISTS nm_lines)
  # "<address> <type> <name>[@[@]<version>]"
  if(line MATCHES "^[0-9a-fA-F]* *[A-Za-z] ([^ @]+)")
    list(APPEND exported "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_DUPLICATES exported)
list(SORT exported)

set(missing ${declared})
list(REMOVE_ITEM missing ${exported})
set(extra ${exported})
list(REMOVE_ITEM extra ${declared})
set(failed FALSE)
if(missing)
  list(JOIN missing ", " missing)
  message(SEND_ERROR "declared in the header but not exported: ${missing}")
  set(failed TRUE)
endif()
if(extra)
  list(JOIN extra ", " extra)
  message(SEND_ERROR "exported but not declared in the header: ${extra}")
  set(failed TRUE)
endif()

execute_process(COMMAND ${READELF} -d ${LIB} OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT dyn MATCHES "\\(SONAME\\)[^\n]*\\[([^]]*)\\]")
  message(SEND_ERROR "readelf -d ${LIB}: no SONAME")
  set(failed TRUE)
elseif(NOT CMAKE_MATCH_1 STREQUAL SONAME)
  message(SEND_ERROR "SONAME is ${CMAKE_MATCH_1}, want ${SONAME}")
  set(failed TRUE)
endif()

if(failed)
  message(FATAL_ERROR "symbol check failed")
endif()
list(LENGTH exported n_exported)
message(STATUS "${n_exported} exported symbols == ${n_declared} header functions; SONAME ${SONAME}")
