package tensor

import "github.com/mlxprim/mlxprim/core/errs"

// DType is an element type.
type DType uint8

// The element types the library knows. Float16 and BFloat16 are storage formats:
// arithmetic on them accumulates in float32. Int4 packs two elements per byte, element
// 2i in the low nibble and 2i+1 in the high nibble.
const (
	Float32 DType = iota + 1
	Float16
	BFloat16
	Int8
	Uint8
	Int32
	Int64
	Bool
	Int4
)

// DLPack type codes (DLDataTypeCode), which the C ABI uses unchanged.
const (
	dlInt    = 0
	dlUint   = 1
	dlFloat  = 2
	dlBfloat = 4
	dlBool   = 6
)

// Bits returns the width of one element in bits.
func (d DType) Bits() int {
	switch d {
	case Float32, Int32:
		return 32
	case Float16, BFloat16:
		return 16
	case Int8, Uint8, Bool:
		return 8
	case Int64:
		return 64
	case Int4:
		return 4
	}
	return 0
}

// IsFloat reports whether d is one of the floating-point storage types.
func (d DType) IsFloat() bool { return d == Float32 || d == Float16 || d == BFloat16 }

// String returns the conventional lower-case name of d.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case BFloat16:
		return "bfloat16"
	case Int8:
		return "int8"
	case Uint8:
		return "uint8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	case Int4:
		return "int4"
	}
	return "invalid dtype"
}

type dlpackKey struct{ code, bits uint8 }

var dlpackTypes = map[dlpackKey]DType{
	{dlFloat, 32}: Float32, {dlFloat, 16}: Float16, {dlBfloat, 16}: BFloat16,
	{dlInt, 8}: Int8, {dlUint, 8}: Uint8, {dlInt, 32}: Int32, {dlInt, 64}: Int64,
	{dlBool, 8}: Bool, {dlInt, 4}: Int4,
}

// FromDLPack maps a DLPack (code, bits, lanes) triple to a DType.
func FromDLPack(code, bits uint8, lanes uint16) (DType, error) {
	if lanes != 1 {
		return 0, errs.New(errs.InvalidArgument, "dtype lanes must be 1, got %d", lanes)
	}
	d, ok := dlpackTypes[dlpackKey{code, bits}]
	if !ok {
		return 0, errs.New(errs.UnsupportedDtype, "unknown dtype (code %d, bits %d)", code, bits)
	}
	return d, nil
}

// DLPack returns d's DLPack code and bits.
func (d DType) DLPack() (code, bits uint8) {
	switch d {
	case Float32, Float16:
		code = dlFloat
	case BFloat16:
		code = dlBfloat
	case Uint8:
		code = dlUint
	case Bool:
		code = dlBool
	default:
		code = dlInt
	}
	return code, uint8(d.Bits())
}
