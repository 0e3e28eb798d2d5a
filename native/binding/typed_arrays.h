// The TypedArray side of tensors crossing the binding: which TypedArray holds each dtype (the
// runtime's DTYPES table in runtime/tensor.ts has the same column; test/runtime checks they agree)
// and the bytes a TypedArray or DataView covers, used in place.
#pragma once

#include <napi.h>

#include <string>

#include "dtype.h"
#include "executor.h"
#include "js_errors.h"

namespace mcpc_binding {

inline napi_typedarray_type TypedArrayTypeOf(mcpc::DType t) {
  using mcpc::DType;
  switch (t) {
    case DType::F32: return napi_float32_array;
    case DType::F64: return napi_float64_array;
    case DType::F16: case DType::BF16: case DType::U16: return napi_uint16_array;
    case DType::I64: return napi_bigint64_array;
    case DType::U64: return napi_biguint64_array;
    case DType::I32: return napi_int32_array;
    case DType::U32: return napi_uint32_array;
    case DType::I16: return napi_int16_array;
    case DType::I8: return napi_int8_array;
    case DType::U8: case DType::Bool: return napi_uint8_array;
    // Low-precision types travel as their bytes (packed for sub-byte types).
    case DType::F8E4M3FN: case DType::F8E4M3FNUZ: case DType::F8E5M2: case DType::F8E5M2FNUZ: case DType::F8E8M0:
    case DType::F4E2M1: case DType::I4: case DType::U4: case DType::I2: case DType::U2: return napi_uint8_array;
  }
  return napi_uint8_array;
}

/** A new TypedArray of the dtype's class over `byteLength` bytes of `buffer`. */
inline Napi::Value NewTypedArray(Napi::Env env, mcpc::DType t, Napi::ArrayBuffer buffer, size_t byteLength) {
  const size_t elementSize = mcpc::DTypeSize(t);
  napi_value array;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, TypedArrayTypeOf(t), byteLength / elementSize, buffer, 0, &array), Napi::Value());
  return Napi::Value(env, array);
}

/** The bytes a TypedArray or DataView covers, or a TypeError naming `path`. */
inline mcpc::IoBuffer BytesOf(const Napi::Value& v, const std::string& path) {
  if (v.IsTypedArray()) {
    auto a = v.As<Napi::TypedArray>();
    return {static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ByteLength()};
  }
  if (v.IsDataView()) {
    auto a = v.As<Napi::DataView>();
    return {static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset(), a.ByteLength()};
  }
  throw CodedTypeError(v.Env(), MCPC_E_BAD_INPUT, path + " must be a TypedArray");
}

}  // namespace mcpc_binding
