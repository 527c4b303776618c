//go:build !amd64 || purego

package gemm

import "github.com/mlxprim/mlxprim/core/tensor"

// pickKernel chooses the path for operands of dtype dt: only the generic one here.
func pickKernel(dt tensor.DType) *kernelSpec { return &genericSpec }
