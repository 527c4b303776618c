# check_abi_layout.cmake — struct layout of mlxprim.h.
#
#   cmake -DLAYOUT=abi_layout -DHEADER=mlxprim.h -P check_abi_layout.cmake
#
# 1. abi_layout prints exactly one size line per struct of the header and one offset line
#    per field (so it cannot miss a struct added later).
# 2. mlxp_tensor, mlxp_device and mlxp_dtype match DLPack's DLTensor, DLDevice and
#    DLDataType as the DLPack specification (dlpack.h, v0.8+) lays them out on 64-bit
#    targets: DLTensor is {void* data; DLDevice device; int32_t ndim; DLDataType dtype;
#    int64_t* shape; int64_t* strides; uint64_t byte_offset;}, DLDevice is
#    {int32 device_type; int32 device_id}, DLDataType is {uint8 code; uint8 bits; uint16 lanes}.
cmake_minimum_required(VERSION 3.20)
include(${CMAKE_CURRENT_LIST_DIR}/header_parse.cmake)

execute_process(COMMAND ${LAYOUT} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${LAYOUT} failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(printed "")
set(failed FALSE)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  if(NOT line MATCHES "^([A-Za-z0-9_]+)\\.([A-Za-z0-9_]+) ([0-9]+)$")
    message(SEND_ERROR "malformed line: '${line}'")
    set(failed TRUE)
    continue()
  endif()
  set(value_${CMAKE_MATCH_1}.${CMAKE_MATCH_2} ${CMAKE_MATCH_3})
  if(CMAKE_MATCH_2 STREQUAL "size")
    list(APPEND printed "${CMAKE_MATCH_1}")
  else()
    list(APPEND printed "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
  endif()
endforeach()

# 1. the same structs and fields as the header, in the header's order
mlxp_header_structs("${HEADER}" declared)
if(NOT printed STREQUAL declared)
  set(missing ${declared})
  if(printed)
    list(REMOVE_ITEM missing ${printed})
  endif()
  set(extra ${printed})
  list(REMOVE_ITEM extra ${declared})
  list(JOIN missing ", " missing)
  list(JOIN extra ", " extra)
  message(SEND_ERROR "abi_layout output differs from the header's structs.\n"
    "  not printed: ${missing}\n  not in the header: ${extra}\n"
    "  (or the order differs; fields must follow their struct in header order)")
  set(failed TRUE)
endif()

# 2. DLPack
set(dlpack
  mlxp_tensor.size=48 mlxp_tensor.data=0 mlxp_tensor.device=8 mlxp_tensor.ndim=16
  mlxp_tensor.dtype=20 mlxp_tensor.shape=24 mlxp_tensor.strides=32 mlxp_tensor.byte_offset=40
  mlxp_device.size=8 mlxp_device.device_type=0 mlxp_device.device_id=4
  mlxp_dtype.size=4 mlxp_dtype.code=0 mlxp_dtype.bits=1 mlxp_dtype.lanes=2)
foreach(entry IN LISTS dlpack)
  string(REPLACE "=" ";" kv "${entry}")
  list(GET kv 0 key)
  list(GET kv 1 want)
  if(NOT DEFINED value_${key})
    message(SEND_ERROR "${key}: not printed")
    set(failed TRUE)
  elseif(NOT value_${key} EQUAL want)
    message(SEND_ERROR "${key} is ${value_${key}}, DLPack has ${want}")
    set(failed TRUE)
  endif()
endforeach()

if(failed)
  message(FATAL_ERROR "ABI layout check failed")
endif()
list(LENGTH printed n)
message(STATUS "${n} layout entries match the header; mlxp_tensor/device/dtype match DLPack")
