/*
 * mlxprim.h — the C interface of libmlxprim.
 *
 * libmlxprim provides transformer building blocks (attention, KV caches, samplers,
 * fused kernels, quantization, scans, mixture-of-experts routing) behind a stable C ABI.
 * This header is the specification: every promise written here is checked by a test.
 *
 * General rules
 * -------------
 * - Every function returns an mlxp_status (MLXP_OK == 0 on success) and hands values
 *   back through out-pointers. The only exception is mlxp_last_error().
 * - On failure a function writes nothing to its outputs and leaves every handle it was
 *   given unchanged; mlxp_last_error() then describes the failure on the calling thread.
 * - No function aborts, exits or lets a fault in the library escape into the host
 *   process: an unexpected internal failure returns MLXP_ERR_INTERNAL.
 * - Tensors are borrowed for the duration of a call only; the library keeps no pointer
 *   into caller memory after a call returns.
 * - Parameter structs begin with `size_t struct_size`. Initialize them with the matching
 *   mlxp_<name>_params_init(), which sets struct_size and every default. The library reads
 *   only the fields covered by the caller's struct_size, so a program compiled against an
 *   older header keeps working with a newer library. A NULL params pointer means
 *   "all defaults".
 * - The library is a Go shared library: one Go runtime lives in the host process. Do not
 *   fork() without exec() after the first call, and do not expect dlclose() to unload it.
 *
 * Numerical conventions
 * ---------------------
 * - float16 and bfloat16 are storage formats: arithmetic accumulates in float32, and
 *   conversions to a half type round to nearest even and keep NaN and Inf.
 * - Results are deterministic: the same inputs give bit-identical outputs on every run,
 *   for any thread count, and a row's result never depends on the other rows of a batch.
 */
#ifndef MLXPRIM_H
#define MLXPRIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================================
 * Versions
 * ==================================================================================== */

#define MLXP_VERSION_MAJOR 0
#define MLXP_VERSION_MINOR 1
#define MLXP_VERSION_PATCH 0
/** MLXP_VERSION_NUMBER is MAJOR * 1000000 + MINOR * 1000 + PATCH. */
#define MLXP_VERSION_NUMBER 1000
#define MLXP_VERSION_STRING "0.1.0"
/** The ABI version; it is the number in the Linux SONAME (libmlxprim.so.<ABI>). It changes
 *  only when an existing function, struct field or constant changes meaning or layout. */
#define MLXP_ABI_VERSION 0

/* ======================================================================================
 * Status codes
 * Values are assigned explicitly and never renumbered; new codes are only added.
 * ==================================================================================== */

typedef int32_t mlxp_status;

enum {
    MLXP_OK = 0,                     /* success */
    MLXP_ERR_INVALID_ARGUMENT = 1,   /* NULL pointer, bad value, bad stride, overlap */
    MLXP_ERR_SHAPE_MISMATCH = 2,     /* shapes or ndim disagree with the op's contract */
    MLXP_ERR_UNSUPPORTED_DTYPE = 3,  /* dtype unknown, or not accepted by this op */
    MLXP_ERR_OUT_OF_MEMORY = 4,      /* an allocation failed or a size overflows */
    MLXP_ERR_CAPACITY_EXHAUSTED = 5, /* a fixed-capacity object is full */
    MLXP_ERR_INVALID_HANDLE = 6,     /* NULL-where-required, stale, destroyed or foreign handle */
    MLXP_ERR_NOT_FOUND = 7,          /* a named item does not exist */
    MLXP_ERR_CANCELLED = 8,          /* the operation was cancelled */
    MLXP_ERR_INTERNAL = 9            /* an internal failure; the message says where */
};

/**
 * mlxp_version — the library's version number.
 *
 * Promises: *out_version == MAJOR * 1000000 + MINOR * 1000 + PATCH of the loaded library,
 * which equals MLXP_VERSION_NUMBER when header and library match.
 * Parameters: out_version — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out_version is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_version(int32_t* out_version);

/**
 * mlxp_version_string — the library's version as "MAJOR.MINOR.PATCH".
 *
 * Parameters: out — not NULL; receives a static, NUL-terminated string owned by the
 * library and valid for the life of the process. Do not free it.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_version_string(const char** out);

/**
 * mlxp_abi_version — the ABI version of the loaded library.
 *
 * Promises: *out_abi == MLXP_ABI_VERSION when header and library match; a caller should
 * refuse to run when they differ.
 * Parameters: out_abi — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out_abi is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_abi_version(int32_t* out_abi);

/* ======================================================================================
 * Errors
 * ==================================================================================== */

/**
 * mlxp_last_error — the message of the most recent failed call on this thread.
 *
 * Promises: returns the message set by the most recent call on the calling thread that
 * returned a status other than MLXP_OK, or "" if there was none. Successful calls do not
 * change it. Never NULL.
 * Lifetime: the string is owned by the library, stored per thread, and valid until the
 * next failing call on the same thread. Messages longer than 1023 bytes are truncated.
 * Thread safety: safe from any thread; each thread sees only its own message.
 */
const char* mlxp_last_error(void);

/**
 * mlxp_status_string — a short, fixed description of a status code.
 *
 * Promises: *out is a static string such as "invalid argument"; an unknown code gives
 * "unknown status" and still returns MLXP_OK.
 * Parameters: status — any value; out — not NULL, receives a static string (do not free).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_status_string(mlxp_status status, const char** out);

/* ======================================================================================
 * CPU and threads
 * ==================================================================================== */

/**
 * mlxp_cpu_features — the CPU features the library detected.
 *
 * Promises: *out is a space-separated list of lower-case feature names out of
 * "sse4.2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512bf16 avx512vnni
 * neon" that this CPU and OS support, possibly empty.
 * Parameters: out — not NULL; receives a static string owned by the library (do not free).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_cpu_features(const char** out);

/**
 * mlxp_cpu_isa — the kernel path the library dispatches to.
 *
 * Promises: *out is one of "generic", "avx2", "avx512". It is the best path the CPU
 * supports, lowered by the environment variable MLXP_ISA (read once, at load) when that
 * names a lower path: MLXP_ISA=generic|avx2|avx512. A request above what the CPU supports,
 * or an unknown value, selects the best supported path.
 * Parameters: out — not NULL; receives a static string (do not free).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_cpu_isa(const char** out);

/**
 * mlxp_set_num_threads — size of the worker pool used by every parallel operation.
 *
 * Promises: later operations use at most n worker threads. Results do not depend on n.
 * Parameters: n — 1..1024 threads, or 0 for the default (the number of logical CPUs).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if n is negative or above 1024 (the setting
 * is then unchanged).
 * Thread safety: safe from any thread; operations already running keep the count they
 * started with.
 */
mlxp_status mlxp_set_num_threads(int32_t n);

/**
 * mlxp_get_num_threads — the current worker-pool size.
 *
 * Parameters: out_n — not NULL; receives the number of threads (>= 1).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out_n is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_get_num_threads(int32_t* out_n);

/* ======================================================================================
 * Tensors
 *
 * mlxp_tensor is laid out exactly like DLPack's DLTensor (v0.8+), so a DLPack producer
 * (NumPy, PyTorch, JAX, MLX) can hand its DLTensor over without a copy:
 *
 *   offset  0  void*       data          base pointer (never dereferenced when a dim is 0)
 *   offset  8  mlxp_device device        {device_type, device_id}; only MLXP_DEVICE_CPU
 *   offset 16  int32_t     ndim          0..MLXP_MAX_NDIM
 *   offset 20  mlxp_dtype  dtype         {code, bits, lanes}; lanes must be 1
 *   offset 24  int64_t*    shape         ndim sizes, each >= 0 (NULL only when ndim == 0)
 *   offset 32  int64_t*    strides       ndim strides in elements (any sign), or NULL
 *                                        for row-major contiguous
 *   offset 40  uint64_t    byte_offset   added to data before indexing
 *   size   48
 *
 * The library never writes to shape or strides. Element [i0, ..., in] lives at
 * (char*)data + byte_offset + (i0*s0 + ... + in*sn) * bits/8.
 *
 * Every tensor argument of every function is checked before anything is written: a
 * shape whose element count overflows int64 gives MLXP_ERR_OUT_OF_MEMORY; a stride
 * beyond +-2^56, or strides that reach further than 2^56 elements from the first one
 * (the sum of |stride| * (size - 1)), give MLXP_ERR_INVALID_ARGUMENT. The library
 * cannot know the size of the caller's buffer: every element the descriptor reaches
 * must be readable (and, for an output, writable).
 *
 * Accepted dtypes (code, bits): float32 (2,32), float16 (2,16), bfloat16 (4,16),
 * int8 (0,8), uint8 (1,8), int32 (0,32), int64 (0,64), bool (6,8) and packed int4 (0,4):
 * two elements per byte, element 2i in the low nibble and 2i+1 in the high nibble; an int4
 * tensor must be row-major contiguous with an even innermost size. Each op states which
 * dtypes it takes.
 *
 * Overlap: an output may be the very same tensor as an input (same address, dtype, shape
 * and strides), which computes in place. Otherwise an output whose address range (from
 * its lowest to its highest element) intersects the range of another tensor of the call
 * is rejected with MLXP_ERR_INVALID_ARGUMENT, even if the elements interleave.
 * ==================================================================================== */

#define MLXP_MAX_NDIM 16

/** Device types, numbered as DLPack's DLDeviceType. Only the CPU is accepted. */
enum {
    MLXP_DEVICE_CPU = 1
};

/** Dtype codes, numbered as DLPack's DLDataTypeCode. */
enum {
    MLXP_DTYPE_INT = 0,
    MLXP_DTYPE_UINT = 1,
    MLXP_DTYPE_FLOAT = 2,
    MLXP_DTYPE_BFLOAT = 4,
    MLXP_DTYPE_BOOL = 6
};

/** A device, laid out as DLDevice. device_type is an MLXP_DEVICE_* value. */
typedef struct mlxp_device {
    int32_t device_type;
    int32_t device_id;
} mlxp_device;

/** An element type, laid out as DLDataType: code is an MLXP_DTYPE_* value, bits the
 *  element width (4, 8, 16, 32 or 64), lanes must be 1. */
typedef struct mlxp_dtype {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} mlxp_dtype;

/** A strided view of caller memory, laid out as DLTensor (see the table above). */
typedef struct mlxp_tensor {
    void* data;
    mlxp_device device;
    int32_t ndim;
    mlxp_dtype dtype;
    int64_t* shape;
    int64_t* strides;
    uint64_t byte_offset;
} mlxp_tensor;

/* ======================================================================================
 * Softmax
 * ==================================================================================== */

/** Parameters of mlxp_softmax. Initialize with mlxp_softmax_params_init(). */
typedef struct mlxp_softmax_params {
    size_t struct_size;  /* sizeof(mlxp_softmax_params); set by the init function */
    float temperature;   /* logits are divided by this; > 0 and finite; default 1.0 */
    int32_t log;         /* 0: softmax (default); 1: log-softmax; other values are an error */
} mlxp_softmax_params;

/**
 * mlxp_softmax_params_init — fill p with the defaults (temperature 1, log 0) and
 * struct_size = sizeof(mlxp_softmax_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_softmax_params_init(mlxp_softmax_params* p);

/**
 * mlxp_softmax — softmax (or log-softmax) over the last axis.
 *
 * Promises: for each row r of the last axis, with z = x[r] / temperature and
 * m = max(z): out[r, j] = exp(z_j - m) / sum_k exp(z_k - m), or for log-softmax
 * out[r, j] = z_j - m - log(sum_k exp(z_k - m)); computed in float32 and rounded once
 * into out's dtype. Rows whose entries are all -Inf give NaN (there is no distribution);
 * a +Inf or NaN entry makes its row NaN.
 *
 * Shapes: x [..., N] with ndim >= 1 and N >= 1; out has x's shape and dtype.
 *         A tensor with zero rows is accepted and nothing is written.
 * Dtypes: float32, float16, bfloat16.
 * Parameters:
 *   x      — input, not NULL; any strides.
 *   out    — output, not NULL; any strides; may be x itself (in place).
 *   params — NULL for defaults, else initialized by mlxp_softmax_params_init().
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL tensor, data or shape, bad params,
 *   struct_size too small, overlap, non-CPU device, lanes != 1, ndim out of range,
 *   negative size); MLXP_ERR_SHAPE_MISMATCH (out's shape differs from x's, N == 0,
 *   ndim == 0); MLXP_ERR_UNSUPPORTED_DTYPE (dtype not listed, or out's dtype differs).
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_softmax(const mlxp_tensor* x, mlxp_tensor* out,
                         const mlxp_softmax_params* params);

/* ======================================================================================
 * RMSNorm
 * ==================================================================================== */

/** Parameters of mlxp_rms_norm. Initialize with mlxp_rms_norm_params_init(). */
typedef struct mlxp_rms_norm_params {
    size_t struct_size;  /* sizeof(mlxp_rms_norm_params); set by the init function */
    float eps;           /* added to the mean square; >= 0 and finite; default 1e-6 */
} mlxp_rms_norm_params;

/**
 * mlxp_rms_norm_params_init — fill p with the defaults (eps = 1e-6) and
 * struct_size = sizeof(mlxp_rms_norm_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_rms_norm_params_init(mlxp_rms_norm_params* p);

/**
 * mlxp_rms_norm — root-mean-square normalization over the last axis, with an optional
 * fused residual add.
 *
 * Promises: with h = x (or, when residual is given, h = x + residual rounded to out's
 * dtype, exactly as an unfused add in that dtype), for each row r:
 *   out[r, j] = h[r, j] / sqrt(mean_k(h[r, k]^2) + eps) * weight[j]
 * (weight taken as 1 when NULL), accumulated in float32 and rounded once into out's dtype.
 * When residual_out is given it receives h (the sum, or a copy of x without residual),
 * so the next layer's residual stream needs no second pass.
 *
 * Shapes: x [..., D] with ndim >= 1 and D >= 1; weight [D] or NULL; residual NULL or x's
 *         shape; out and residual_out (when given) x's shape. Zero rows are accepted.
 * Dtypes: float32, float16, bfloat16. out and residual_out have x's dtype; weight and
 *         residual may each be any of the three.
 * Parameters:
 *   x            — input, not NULL; any strides.
 *   weight       — per-channel scale, or NULL.
 *   residual     — added to x before normalizing, or NULL.
 *   out          — normalized output, not NULL; may be x or residual itself.
 *   residual_out — receives h, or NULL; may be x or residual itself.
 *   params       — NULL for defaults, else initialized by mlxp_rms_norm_params_init().
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL x or out, NULL data or shape, bad eps,
 *   struct_size too small, overlap, out and residual_out the same memory, non-CPU device,
 *   lanes != 1, ndim out of range, negative size); MLXP_ERR_SHAPE_MISMATCH (any shape differs from its contract);
 *   MLXP_ERR_UNSUPPORTED_DTYPE (dtype not listed, or an output's dtype differs from x's).
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_rms_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                          const mlxp_tensor* residual, mlxp_tensor* out,
                          mlxp_tensor* residual_out, const mlxp_rms_norm_params* params);

/* ======================================================================================
 * Matrix multiply and linear layers
 *
 * Accumulation is float32 whatever the input dtype; a float16/bfloat16 output is rounded
 * once at the end. Every element's float32 result depends only on its row of A, its column
 * of B, K and the CPU path (mlxp_cpu_isa): never on M, N, the batch or the thread count.
 * ==================================================================================== */

/** Activation kinds for mlxp_activation, mlxp_glu and mlxp_gated_linear. */
enum {
    MLXP_ACT_SILU = 1,      /* x * sigmoid(x) */
    MLXP_ACT_GELU = 2,      /* x/2 * (1 + erf(x/sqrt(2))), exact */
    MLXP_ACT_GELU_TANH = 3  /* x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) */
};

/** Parameters of mlxp_matmul. Initialize with mlxp_matmul_params_init(). */
typedef struct mlxp_matmul_params {
    size_t struct_size; /* sizeof(mlxp_matmul_params); set by the init function */
    int32_t trans_a;    /* 0 (default): a is [..., M, K]; 1: a is [..., K, M], used transposed */
    int32_t trans_b;    /* 0 (default): b is [..., K, N]; 1: b is [..., N, K], used transposed */
    float alpha;        /* scales op(a) op(b); finite; default 1 */
    float beta;         /* scales the old c; finite; default 0, and then c is never read */
} mlxp_matmul_params;

/**
 * mlxp_matmul_params_init — fill p with the defaults (no transposes, alpha 1, beta 0) and
 * struct_size = sizeof(mlxp_matmul_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_matmul_params_init(mlxp_matmul_params* p);

/**
 * mlxp_matmul — batched matrix multiply: c = alpha * op(a) op(b) + beta * c.
 *
 * Shapes: a [..., M, K] (trans_a: [..., K, M]), b [..., K, N] (trans_b: [..., N, K]),
 *         c [..., M, N], each with ndim >= 2. The batch dimensions of a and b broadcast
 *         (NumPy rules) to c's batch dimensions. Sizes may be 0.
 * Dtypes: a and b float32, float16 or bfloat16, both the same; c float32, float16 or
 *         bfloat16. bfloat16 inputs use the CPU's bfloat16 dot-product instructions when
 *         it has them (avx512bf16), which accumulate pairs of products in float32.
 * Parameters: a, b — not NULL, any strides; c — not NULL, any strides, must not overlap a
 *   or b; params — NULL for defaults, else initialized by mlxp_matmul_params_init().
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL argument or data, overlap, non-finite
 *   alpha/beta, trans flags other than 0/1, bad descriptor); MLXP_ERR_SHAPE_MISMATCH
 *   (inner sizes differ, batch dims do not broadcast to c's, ndim < 2);
 *   MLXP_ERR_UNSUPPORTED_DTYPE (dtype not listed, a and b differ).
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_matmul(const mlxp_tensor* a, const mlxp_tensor* b, mlxp_tensor* c,
                        const mlxp_matmul_params* params);

/**
 * mlxp_linear — a linear layer: y = x w^T + bias.
 *
 * Shapes: x [..., in] (ndim >= 1), w [out, in], bias [out] or NULL, y [..., out] with x's
 *         leading dimensions.
 * Dtypes: x and w float32, float16 or bfloat16, both the same; bias any of the three;
 *         y any of the three. Accumulation is float32, bias added in float32.
 * Parameters: x, w — not NULL; bias — NULL for none; y — not NULL, must not overlap the
 *   inputs.
 * Returns: as mlxp_matmul.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_linear(const mlxp_tensor* x, const mlxp_tensor* w, const mlxp_tensor* bias,
                        mlxp_tensor* y);

/**
 * mlxp_gated_linear — the fused gated MLP input: out = act(x w_gate^T) * (x w_up^T).
 *
 * Promises: both products are computed from one pass over x, in float32, and combined
 * before the single rounding into out; equals mlxp_glu applied to the two mlxp_linear
 * results kept in float32.
 * Shapes: x [..., in], w_gate and w_up [hidden, in], out [..., hidden].
 * Dtypes: x, w_gate, w_up the same of float32, float16, bfloat16; out any of the three.
 * Parameters: activation — MLXP_ACT_SILU (SwiGLU), MLXP_ACT_GELU or MLXP_ACT_GELU_TANH
 *   (GeGLU); tensors not NULL; out must not overlap the inputs.
 * Returns: as mlxp_matmul; MLXP_ERR_INVALID_ARGUMENT for an unknown activation.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_gated_linear(const mlxp_tensor* x, const mlxp_tensor* w_gate,
                              const mlxp_tensor* w_up, int32_t activation, mlxp_tensor* out);

/**
 * mlxp_gated_linear_backward — gradients of mlxp_gated_linear.
 *
 * Promises: with gate = x w_gate^T and up = x w_up^T (recomputed in float32):
 *   dgate = dout * up * act'(gate);  dup = dout * act(gate);
 *   dx = dgate w_gate + dup w_up;  dw_gate = dgate^T x;  dw_up = dup^T x
 * (the weight gradients sum over every row of x). Arithmetic is float32 through the
 * matrix multiply, each output rounded once; bit-identical for any thread count.
 * Shapes: x [..., in]; w_gate and w_up [hidden, in]; dout [..., hidden] (x's leading
 *         dims); dx x's shape; dw_gate and dw_up [hidden, in].
 * Dtypes: float32, float16 or bfloat16, each tensor independently.
 * Parameters: activation — as mlxp_gated_linear; dx, dw_gate, dw_up — each NULL when that
 *   gradient is not wanted (all three NULL: the call only checks its arguments); they
 *   must not overlap each other or any input, not even as the very same tensor. Scratch:
 *   float32 copies of x (unless a 2-D row-major float32 tensor), of dout and of weights
 *   that are not row-major float32, two float32 [rows, hidden] arrays, and a float32
 *   [rows, in] array when dx is wanted.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL input, unknown activation, overlap);
 *   MLXP_ERR_SHAPE_MISMATCH; MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_gated_linear_backward(const mlxp_tensor* x, const mlxp_tensor* w_gate,
                                       const mlxp_tensor* w_up, const mlxp_tensor* dout,
                                       int32_t activation, mlxp_tensor* dx,
                                       mlxp_tensor* dw_gate, mlxp_tensor* dw_up);

/* ======================================================================================
 * LayerNorm, GroupNorm and normalization backward passes
 *
 * Forward ops share mlxp_rms_norm's contract for the fused residual: h = x + residual
 * rounded to x's dtype (exactly an unfused add), residual_out receives h, statistics and
 * arithmetic in float32, one rounding into out. Backward ops take h (x, or the forward
 * call's residual_out) and return dx, which is also the gradient of x and of residual.
 * Weight and bias gradients are sums over rows in a fixed order: bit-identical for any
 * thread count.
 * ==================================================================================== */

/** Parameters of the normalization ops. Initialize with mlxp_norm_params_init(). */
typedef struct mlxp_norm_params {
    size_t struct_size; /* sizeof(mlxp_norm_params); set by the init function */
    float eps;          /* added to the variance (mean square for RMSNorm); >= 0, finite;
                           default 1e-5 (the LayerNorm and GroupNorm convention; RMSNorm's
                           own default, 1e-6, applies when mlxp_rms_norm_backward gets NULL) */
    int32_t num_groups; /* GroupNorm only: G >= 1 with C % G == 0; default 1 */
} mlxp_norm_params;

/**
 * mlxp_norm_params_init — fill p with eps 1e-5, num_groups 1 and
 * struct_size = sizeof(mlxp_norm_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_norm_params_init(mlxp_norm_params* p);

/**
 * mlxp_layer_norm — layer normalization over the last axis, with optional affine
 * parameters and fused residual add.
 *
 * Promises: out[r, j] = (h[r, j] - mean_r) / sqrt(var_r + eps) * weight[j] + bias[j]
 * (biased variance; weight 1 and bias 0 when NULL).
 * Shapes: x [..., D] (ndim >= 1, D >= 1); weight, bias [D] or NULL; residual NULL or x's
 *         shape; out and residual_out (when given) x's shape.
 * Dtypes: float32, float16, bfloat16; out and residual_out have x's dtype; weight, bias
 *         and residual may each be any of the three.
 * Parameters: out — not NULL, may be x or residual itself; residual_out — NULL or a
 *   tensor that may be x or residual itself; params — NULL for defaults (eps 1e-5).
 * Returns: as mlxp_rms_norm.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_layer_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                            const mlxp_tensor* bias, const mlxp_tensor* residual,
                            mlxp_tensor* out, mlxp_tensor* residual_out,
                            const mlxp_norm_params* params);

/**
 * mlxp_group_norm — group normalization of channels-first tensors, with optional affine
 * parameters and fused residual add.
 *
 * Promises: for each sample n and group g, statistics over the C/G channels of the group
 * and all spatial positions; out = (h - mean) / sqrt(var + eps) * weight[c] + bias[c].
 * Shapes: x [N, C, *spatial] (ndim >= 2); weight, bias [C] or NULL; residual, out and
 *         residual_out x's shape. params->num_groups divides C.
 * Dtypes, parameters, returns and thread safety: as mlxp_layer_norm; also
 *   MLXP_ERR_INVALID_ARGUMENT when num_groups < 1 and MLXP_ERR_SHAPE_MISMATCH when it
 *   does not divide C.
 */
mlxp_status mlxp_group_norm(const mlxp_tensor* x, const mlxp_tensor* weight,
                            const mlxp_tensor* bias, const mlxp_tensor* residual,
                            mlxp_tensor* out, mlxp_tensor* residual_out,
                            const mlxp_norm_params* params);

/**
 * mlxp_rms_norm_backward — gradients of mlxp_rms_norm.
 *
 * Promises: with r = 1/sqrt(mean(h^2) + eps) and g = dy * weight:
 *   dx = r * g - h * r^3 * mean(g * h)   (+ d_residual_out when given)
 *   dweight[j] = sum over rows of dy * h * r.
 * Shapes: h, dy, d_residual_out, dx [..., D]; weight and dweight [D] or NULL.
 * Dtypes: float32, float16, bfloat16, any mix; arithmetic in float32.
 * Parameters: h — the forward input (x, or the forward residual_out); weight — as in the
 *   forward call or NULL; dy — gradient of out; d_residual_out — gradient reaching the
 *   forward residual_out from later layers, or NULL; dx — not NULL, may be dy itself;
 *   dweight — NULL to skip; params — NULL for eps 1e-6, else its eps is used.
 * Returns: as mlxp_rms_norm.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_rms_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                   const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                   mlxp_tensor* dx, mlxp_tensor* dweight,
                                   const mlxp_norm_params* params);

/**
 * mlxp_layer_norm_backward — gradients of mlxp_layer_norm.
 *
 * Promises: with xhat = (h - mean) r, r = 1/sqrt(var + eps), g = dy * weight:
 *   dx = r * (g - mean(g) - xhat * mean(g * xhat))   (+ d_residual_out when given)
 *   dweight = sum over rows of dy * xhat, dbias = sum over rows of dy.
 * Shapes, dtypes and parameters: as mlxp_rms_norm_backward, plus dbias [D] or NULL.
 *   params — NULL for eps 1e-5.
 * Returns: as mlxp_rms_norm. Thread safety: as mlxp_rms_norm_backward.
 */
mlxp_status mlxp_layer_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                     const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                     mlxp_tensor* dx, mlxp_tensor* dweight, mlxp_tensor* dbias,
                                     const mlxp_norm_params* params);

/**
 * mlxp_group_norm_backward — gradients of mlxp_group_norm (the layer-norm formula applied
 * per (sample, group); dweight and dbias [C] summed over samples and positions).
 *
 * Shapes: h, dy, d_residual_out, dx [N, C, *spatial]; weight, dweight, dbias [C] or NULL.
 * Parameters, returns, thread safety: as mlxp_layer_norm_backward; params->num_groups
 *   as in the forward call.
 */
mlxp_status mlxp_group_norm_backward(const mlxp_tensor* h, const mlxp_tensor* weight,
                                     const mlxp_tensor* dy, const mlxp_tensor* d_residual_out,
                                     mlxp_tensor* dx, mlxp_tensor* dweight, mlxp_tensor* dbias,
                                     const mlxp_norm_params* params);

/* ======================================================================================
 * Activations
 * ==================================================================================== */

/**
 * mlxp_activation — out = act(x) elementwise, act one of MLXP_ACT_*.
 *
 * Promises: computed in float32 (GELU's erf and all exponentials to within a few float32
 * ulps), rounded once into out. Inputs are meant to be finite: +Inf gives +Inf, -Inf NaN.
 * Shapes: out has x's shape (any ndim, any size).
 * Dtypes: float32, float16, bfloat16, x and out each independently.
 * Parameters: activation — MLXP_ACT_SILU, MLXP_ACT_GELU or MLXP_ACT_GELU_TANH; x, out —
 *   not NULL; out may be x itself.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (unknown activation, NULL, overlap);
 *   MLXP_ERR_SHAPE_MISMATCH; MLXP_ERR_UNSUPPORTED_DTYPE.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_activation(int32_t activation, const mlxp_tensor* x, mlxp_tensor* out);

/**
 * mlxp_activation_backward — dx = dy * act'(x).
 *
 * Shapes: x, dy, dx the same shape. Dtypes: any float, independently.
 * Parameters: dx — not NULL, may be dy or x itself. Returns, thread safety: as
 *   mlxp_activation.
 */
mlxp_status mlxp_activation_backward(int32_t activation, const mlxp_tensor* x,
                                     const mlxp_tensor* dy, mlxp_tensor* dx);

/**
 * mlxp_glu — gated linear unit: out = act(gate) * up (SwiGLU with MLXP_ACT_SILU, GeGLU
 * with MLXP_ACT_GELU or MLXP_ACT_GELU_TANH).
 *
 * Shapes: gate, up and out the same shape. Dtypes: any float, independently.
 * Parameters: out — not NULL, may be gate or up itself. Returns, thread safety: as
 *   mlxp_activation.
 */
mlxp_status mlxp_glu(int32_t activation, const mlxp_tensor* gate, const mlxp_tensor* up,
                     mlxp_tensor* out);

/**
 * mlxp_glu_backward — dgate = dout * up * act'(gate), dup = dout * act(gate).
 *
 * Shapes: all five tensors the same shape. Dtypes: any float, independently.
 * Parameters: dgate, dup — not NULL, distinct; each may be one of the inputs itself.
 * Returns, thread safety: as mlxp_activation.
 */
mlxp_status mlxp_glu_backward(int32_t activation, const mlxp_tensor* gate,
                              const mlxp_tensor* up, const mlxp_tensor* dout,
                              mlxp_tensor* dgate, mlxp_tensor* dup);

/* ======================================================================================
 * Rotary position embeddings (RoPE)
 *
 * For a token at position p, pair i of the rotary dims (x_a, x_b) becomes
 *   x_a' = m * (x_a cos(p f_i) - x_b sin(p f_i)),   x_b' = m * (x_b cos(p f_i) + x_a sin(p f_i))
 * with inverse frequencies f_i = base^(-2i/R) changed by the scaling variant, and the
 * attention factor m (1 except for YaRN). Angles and their cos/sin are computed in float64,
 * cos and sin (times m) rounded once to float32; the rotation runs in float32 and each
 * result is rounded once to the tensor's dtype. Every kernel path gives identical bits.
 * The scaling variants follow Hugging Face transformers' modeling_rope_utils.py.
 * ==================================================================================== */

/** Which rotary dims form a pair. */
enum {
    MLXP_ROPE_HALF = 0,        /* d and d + R/2 (GPT-NeoX, Llama: "rotate_half") */
    MLXP_ROPE_INTERLEAVED = 1  /* 2d and 2d + 1 (GPT-J: "rotate_every_two") */
};

/** The order of the four dimensions of an attention tensor. */
enum {
    MLXP_LAYOUT_BSHD = 0, /* [batch, seq, heads, head_dim] */
    MLXP_LAYOUT_BHSD = 1  /* [batch, heads, seq, head_dim] */
};

/** RoPE context-extension variants (R is the rotary dim, s the factor, O the original
 *  maximum positions). */
enum {
    MLXP_ROPE_SCALING_NONE = 0,        /* f_i = base^(-2i/R) */
    MLXP_ROPE_SCALING_LINEAR = 1,      /* f_i / s (position interpolation) */
    MLXP_ROPE_SCALING_NTK = 2,         /* base * s^(R/(R-2)) ("NTK-aware"); R > 2 */
    MLXP_ROPE_SCALING_YARN = 3,        /* YaRN ramp between f_i and f_i / s, cos/sin times m */
    MLXP_ROPE_SCALING_LLAMA3 = 4,      /* Llama 3.1: low frequencies / s, band blended */
    MLXP_ROPE_SCALING_DYNAMIC_NTK = 5  /* base * (s L/O - (s-1))^(R/(R-2)), L = max(seq_len, O) */
};

/** Parameters of mlxp_rope. Initialize with mlxp_rope_params_init(). */
typedef struct mlxp_rope_params {
    size_t struct_size;             /* sizeof(mlxp_rope_params); set by the init function */
    double base;                    /* frequency base; > 0; default 10000 */
    int32_t rotary_dim;             /* R: leading dims that rotate; even, <= head_dim;
                                       0 (default) = head_dim; the rest pass through */
    int32_t pairing;                /* MLXP_ROPE_HALF (default) or MLXP_ROPE_INTERLEAVED */
    int32_t layout;                 /* MLXP_LAYOUT_BSHD (default) or MLXP_LAYOUT_BHSD */
    int32_t scaling;                /* MLXP_ROPE_SCALING_*; default NONE */
    int64_t offset;                 /* position of token 0 when positions is NULL; default 0 */
    double factor;                  /* s: context extension ratio, > 0; default 1; used by
                                       every scaling but NONE */
    int64_t original_max_positions; /* O: trained context length, > 0; YaRN, LLAMA3 and
                                       DYNAMIC_NTK; default 0 (must be set for them) */
    double beta_fast;               /* YaRN ramp bound in rotations; 0 (default) = 32 */
    double beta_slow;               /* YaRN ramp bound in rotations; 0 (default) = 1 */
    double attention_factor;        /* YaRN m; 0 (default) = 0.1 ln(s) + 1 for s > 1, or the
                                       mscale ratio below when both mscales are set */
    double mscale;                  /* YaRN "mscale" config entry; 0 (default) = absent */
    double mscale_all_dim;          /* YaRN "mscale_all_dim" config entry; 0 = absent */
    int32_t yarn_no_truncate;       /* YaRN: 1 keeps the ramp bounds fractional ("truncate":
                                       false); 0 (default) rounds them with floor/ceil */
    double low_freq_factor;         /* LLAMA3; 0 < low < high; default 1 */
    double high_freq_factor;        /* LLAMA3; default 4 */
    int64_t seq_len;                /* DYNAMIC_NTK: current sequence length; default 0 */
    int32_t inverse;                /* 1: rotate by -angle (the transpose: the backward
                                       pass); 0 (default): forward */
} mlxp_rope_params;

/**
 * mlxp_rope_params_init — fill p with the defaults listed in mlxp_rope_params and
 * struct_size = sizeof(mlxp_rope_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_rope_params_init(mlxp_rope_params* p);

/**
 * mlxp_rope — rotate q and (optionally) k by their tokens' positions, in one call.
 *
 * Promises: each (token, head) row is rotated independently, so results are
 * bit-identical for any thread count and batch composition. With inverse = 1 the call
 * computes the gradient of the forward call (dq from dq_out). For YaRN the rotary dims are
 * also scaled by m.
 * Shapes (BSHD; BHSD swaps the middle two): q [B, S, Hq, D], k [B, S, Hk, D] with the same
 *         B, S and D; q_out and k_out have their input's shape and dtype. positions is NULL
 *         (token s has position offset + s) or an int32/int64 tensor [S] (shared by the
 *         batch) or [B, S].
 * Dtypes: q and k float32, float16 or bfloat16, each independently.
 * Parameters: q, q_out — not NULL; q_out may be q itself (in place). k, k_out — both NULL
 *   (q only) or both given; k_out may be k itself. No other overlap is allowed, so views
 *   of one fused QKV buffer are rotated one call each. positions — NULL or as above.
 *   params — NULL for defaults, else initialized by mlxp_rope_params_init().
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL argument, bad params: odd or too
 *   large rotary_dim, unknown enum, non-positive base or factor, missing
 *   original_max_positions, bad YaRN or Llama-3 factors; overlap; one of k/k_out NULL);
 *   MLXP_ERR_SHAPE_MISMATCH (ndim != 4, B/S/D differ, positions shape);
 *   MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_rope(const mlxp_tensor* q, mlxp_tensor* q_out, const mlxp_tensor* k,
                      mlxp_tensor* k_out, const mlxp_tensor* positions,
                      const mlxp_rope_params* params);

/* ======================================================================================
 * Quantization and weight-only quantized linear layers
 *
 * A weight matrix w is [out, in], quantized along in. Quantize arithmetic is float64 on
 * the float32-widened weights, each scale rounded once to float32, integers rounded to
 * nearest with ties to even. Weights must be finite. Rows (int8) or groups (int4) whose
 * elements are all equal get a finite scale and dequantize exactly to that value.
 *
 * int8, per output row:   q int8 [out, in], scales float32 [out], zeros int32 [out]
 *   symmetric (zeros NULL): s = max|w| / 127, q = clamp(round(w/s), -127, 127), w^ = q * s
 *   asymmetric: range widened to include 0, s = (hi - lo) / 255, z in [-128, 127],
 *               q = clamp(round(w/s) + z, -128, 127), w^ = (q - z) * s
 * int4, per group of 32, 64 or 128 along in:   q packed int4 [out, in] (element 2i in the
 *   low nibble, 2i+1 in the high nibble; in even), scales float32 [out, in/group],
 *   zeros uint8 [out, in/group]
 *   symmetric (zeros NULL): two's-complement nibbles, q in [-7, 7], w^ = q * s
 *   asymmetric: unsigned nibbles 0..15, zero point z in 0..15, w^ = (q - z) * s
 * MLX affine (mx.quantize(w, group_size, bits), bits 4 or 8, groups 32, 64, 128):
 *   wq [out, in*bits/32] of 32-bit words passed as an int32 tensor, element j of a row in
 *   word j/(32/bits) at bit bits*(j%(32/bits)); scales and biases [out, in/group] in w's
 *   float dtype; w^ = scales * q + biases. Dequantization reproduces mx.dequantize bit
 *   for bit.
 *
 * The linear layers compute y[..., r] = sum_j x[..., j] w^[r, j] + bias[r], decoding the
 * weights inside the dot-product kernels (the float weights are never materialized),
 * accumulating in float32 in a fixed order (bit-identical for any thread count and batch)
 * and rounding once into y. The int8 kernels multiply each row's sum by its scale once
 * (s * sum((q - z) x)). The 4-bit kernels of the AVX2 and AVX-512 paths factor each
 * group's parameters out of its sum: s * sum(q x) (+ offset * sum(x) for zero points and
 * MLX biases), equal to the formulas above up to float32 rounding. The AVX-512 4-bit
 * kernels (CPUs with VNNI and GFNI) sum q x exactly in integers: they first round x to
 * 23-bit fixed point per cell of 8 consecutive elements (x ~= M * 2^(e-21), e the
 * exponent of the cell's largest |x|), which adds at most 2^-22 * max|x_cell| *
 * sum_cell |w^| per cell to the float32 error; an Inf or NaN in a row of x makes that
 * row's outputs NaN there (other paths give NaN or +-Inf). Quantized weights must be
 * row-major contiguous.
 * ==================================================================================== */

/**
 * mlxp_quantize_int8 — per-row int8 quantization.
 *
 * Shapes: w [out, in]; q [out, in] int8; scales [out] float32; zeros [out] int32 or NULL.
 * Dtypes: w float32, float16 or bfloat16.
 * Parameters: zeros — NULL for symmetric quantization, else receives the zero points.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL argument, non-finite weight, overlap);
 *   MLXP_ERR_SHAPE_MISMATCH; MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_quantize_int8(const mlxp_tensor* w, mlxp_tensor* q, mlxp_tensor* scales,
                               mlxp_tensor* zeros);

/**
 * mlxp_dequantize_int8 — w = f32((q - zeros) * scales) per row (zeros 0 when NULL), then
 * rounded to w's dtype: the same float32 value the linear layers use. Shapes and dtypes as mlxp_quantize_int8. Returns and thread safety
 * as mlxp_quantize_int8.
 */
mlxp_status mlxp_dequantize_int8(const mlxp_tensor* q, const mlxp_tensor* scales,
                                 const mlxp_tensor* zeros, mlxp_tensor* w);

/**
 * mlxp_quantize_int4 — per-group int4 quantization with low-nibble-first packing.
 *
 * Shapes: w [out, in] with in even and a multiple of group_size; q int4 [out, in]
 *         (contiguous, (out*in)/2 bytes); scales float32 [out, in/group_size]; zeros
 *         uint8 [out, in/group_size] or NULL (symmetric).
 * Parameters: group_size — 32, 64 or 128.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (odd in, in not a multiple of group_size,
 *   other group sizes, non-finite weight, NULL, overlap); MLXP_ERR_SHAPE_MISMATCH;
 *   MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_quantize_int4(const mlxp_tensor* w, int32_t group_size, mlxp_tensor* q,
                               mlxp_tensor* scales, mlxp_tensor* zeros);

/**
 * mlxp_dequantize_int4 — inverse of mlxp_quantize_int4: w = f32((q - z) * s) per group,
 * then rounded to w's dtype (float32, float16 or bfloat16). Shapes, parameters, returns
 * and thread safety as mlxp_quantize_int4.
 */
mlxp_status mlxp_dequantize_int4(const mlxp_tensor* q, const mlxp_tensor* scales,
                                 const mlxp_tensor* zeros, int32_t group_size,
                                 mlxp_tensor* w);

/**
 * mlxp_quantize_affine — MLX's affine quantization (mx.quantize with mode "affine").
 *
 * Promises: follows MLX's CPU algorithm; words, scales and biases equal mx.quantize's for
 * the tested inputs (float32, float16 and bfloat16 weights).
 * Shapes: w [out, in]; wq int32 [out, in*bits/32]; scales, biases [out, in/group_size] in
 *         w's dtype.
 * Parameters: group_size — 32, 64 or 128; bits — 4 or 8.
 * Returns, thread safety: as mlxp_quantize_int4.
 */
mlxp_status mlxp_quantize_affine(const mlxp_tensor* w, int32_t group_size, int32_t bits,
                                 mlxp_tensor* wq, mlxp_tensor* scales, mlxp_tensor* biases);

/**
 * mlxp_dequantize_affine — mx.dequantize, bit for bit: w = scales * q + biases with each
 * operation rounded to the scales' dtype. Shapes and parameters as mlxp_quantize_affine;
 * w has the scales' dtype. Returns, thread safety: as mlxp_quantize_int4.
 */
mlxp_status mlxp_dequantize_affine(const mlxp_tensor* wq, const mlxp_tensor* scales,
                                   const mlxp_tensor* biases, int32_t group_size,
                                   int32_t bits, mlxp_tensor* w);

/**
 * mlxp_int8_linear — y = x w^T + bias with int8 per-row weights (see the section head).
 *
 * Shapes: x [..., in]; q [out, in]; scales [out]; zeros [out] or NULL; bias [out] or NULL;
 *         y [..., out] with x's leading dims.
 * Dtypes: x, y, bias float32, float16 or bfloat16, independently.
 * Parameters: y — may be x itself when in == out; any other overlap is rejected.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT; MLXP_ERR_SHAPE_MISMATCH;
 *   MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_int8_linear(const mlxp_tensor* x, const mlxp_tensor* q,
                             const mlxp_tensor* scales, const mlxp_tensor* zeros,
                             const mlxp_tensor* bias, mlxp_tensor* y);

/**
 * mlxp_int4_linear — y = x w^T + bias with int4 per-group weights. Shapes as
 * mlxp_quantize_int4 for q, scales, zeros; x, bias, y as mlxp_int8_linear.
 * Returns, thread safety: as mlxp_int8_linear.
 */
mlxp_status mlxp_int4_linear(const mlxp_tensor* x, const mlxp_tensor* q,
                             const mlxp_tensor* scales, const mlxp_tensor* zeros,
                             int32_t group_size, const mlxp_tensor* bias, mlxp_tensor* y);

/**
 * mlxp_affine_linear — y = x w^T + bias with weights in MLX's affine format, dequantized
 * as f32(f32(q*s) + b) with s and b widened to float32 (MLX's CPU quantized matmul; the
 * AVX2 and AVX-512 4-bit kernels factor s and b out of each group's sum, see the section
 * head).
 * Shapes as mlxp_quantize_affine for wq, scales, biases; x, bias, y as mlxp_int8_linear.
 * Returns, thread safety: as mlxp_int8_linear.
 */
mlxp_status mlxp_affine_linear(const mlxp_tensor* x, const mlxp_tensor* wq,
                               const mlxp_tensor* scales, const mlxp_tensor* biases,
                               int32_t group_size, int32_t bits, const mlxp_tensor* bias,
                               mlxp_tensor* y);

/* ======================================================================================
 * Attention
 *
 * A tiled FlashAttention-style forward pass: each query row runs an online softmax over
 * key tiles counted from key 0, in float32, with O(L) extra memory; long key ranges are
 * split across threads and merged in a fixed order. Results are bit-identical for any
 * thread count and batch composition, and a row computed alone equals the same row inside
 * a long prefill.
 *
 * Conventions: scale defaults to 1/sqrt(head_dim). Causal masking is bottom-right aligned:
 * with Lq queries and Lk keys, query i sees key j iff j <= i + (Lk - Lq). A local window
 * (left, right), -1 meaning unbounded, keeps key j iff
 * i + (Lk-Lq) - left <= j <= i + (Lk-Lq) + right. Grouped-query attention: Hq % Hkv == 0
 * and query head h reads KV head h / (Hq/Hkv). Logits are formed in this order: scale * q.k,
 * soft cap (cap * tanh(x / cap), tanh computed in double precision and rounded once to
 * float, within 1 ulp, the same bits on every CPU path), additive bias, ALiBi
 * (-slope[h] * (i + (Lk-Lq) - j)), then masks. A query with no visible key produces zeros (lse -Inf, or the sink logit when
 * sinks are given), never NaN.
 * ==================================================================================== */

/** Parameters of mlxp_flash_attention and mlxp_sliding_window_attention. Initialize with
 *  mlxp_attention_params_init(). The tensors it points to are borrowed for the call. */
typedef struct mlxp_attention_params {
    size_t struct_size;                 /* sizeof(mlxp_attention_params); set by init */
    float scale;                        /* multiplies q.k; 0 (default) = 1/sqrt(head_dim) */
    int32_t causal;                     /* 1 (default): bottom-right causal mask; 0: none */
    int32_t window_left;                /* keys before the diagonal; -1 (default) = all */
    int32_t window_right;               /* keys after the diagonal; -1 (default) = all */
    int32_t layout;                     /* MLXP_LAYOUT_BSHD (default) or MLXP_LAYOUT_BHSD */
    float softcap;                      /* > 0: logits -> softcap * tanh(logit / softcap)
                                           (Gemma 2); 0 (default) = none */
    const mlxp_tensor* bias;            /* NULL (default) or an additive logit bias of any
                                           float dtype broadcastable to [B, Hq, Lq, Lk];
                                           -Inf entries mask */
    const mlxp_tensor* alibi_slopes;    /* NULL (default) or float32 [Hq];
                                           mlxp_alibi_slopes() gives the standard ones */
    const mlxp_tensor* key_lengths;     /* NULL (default) or int32 [B]: keys at or beyond
                                           key_lengths[b] are masked (padding) */
    const mlxp_tensor* sinks;           /* NULL (default) or float32 [Hq]: one extra logit
                                           per head in the denominator, carrying no value */
} mlxp_attention_params;

/**
 * mlxp_attention_params_init — fill p with the defaults listed in mlxp_attention_params
 * (causal, no window, BSHD, default scale, no bias, ALiBi, key lengths, sinks or cap) and
 * struct_size = sizeof(mlxp_attention_params).
 *
 * Parameters: p — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if p is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_attention_params_init(mlxp_attention_params* p);

/**
 * mlxp_alibi_slopes — the standard ALiBi slopes of Press et al. for num_heads heads, with
 * the interpolation for head counts that are not powers of two.
 *
 * Parameters: num_heads — >= 1; out — not NULL, float32 [num_heads], any stride.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT; MLXP_ERR_SHAPE_MISMATCH;
 *   MLXP_ERR_UNSUPPORTED_DTYPE.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_alibi_slopes(int32_t num_heads, mlxp_tensor* out);

/**
 * mlxp_flash_attention — out = softmax(scale * q k^T + masks) v.
 *
 * Shapes (BSHD; BHSD swaps the seq and heads axes of all four tensors): q [B, Lq, Hq, D],
 *         k [B, Lk, Hkv, D], v [B, Lk, Hkv, Dv], out [B, Lq, Hq, Dv]; lse NULL or float32
 *         [B, Hq, Lq] receiving the natural log of each row's softmax denominator.
 * Dtypes: float32, float16 or bfloat16, each tensor independently; arithmetic float32.
 * Parameters: q, k, v, out — not NULL, any strides (contiguous is fastest); out must not
 *   overlap any other tensor of the call; params — NULL for defaults (causal).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT (NULL, bad params: window below -1,
 *   non-finite scale, negative cap, layout, causal not 0/1; key length outside 0..Lk;
 *   overlap); MLXP_ERR_SHAPE_MISMATCH (ndim != 4, Hq % Hkv != 0, head dims differ, B or
 *   Lk differ, bias not broadcastable, slopes/sinks/key_lengths of the wrong length);
 *   MLXP_ERR_UNSUPPORTED_DTYPE. Nothing is written on failure.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                 const mlxp_tensor* v, mlxp_tensor* out, mlxp_tensor* lse,
                                 const mlxp_attention_params* params);

/**
 * mlxp_sliding_window_attention — attention where query i sees key j iff
 * |i + (Lk-Lq) - j| <= window_size, and also j <= i + (Lk-Lq) when causal is 1; work is
 * proportional to the window, not to Lk.
 *
 * Parameters: window_size — >= 0; causal — 0 or 1 (replaces params->causal and the
 *   window fields); the rest as mlxp_flash_attention (no lse).
 * Returns, thread safety: as mlxp_flash_attention.
 */
mlxp_status mlxp_sliding_window_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                          const mlxp_tensor* v, int32_t window_size,
                                          int32_t causal, mlxp_tensor* out,
                                          const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_backward — gradients of mlxp_flash_attention, FlashAttention-2
 * style: the probabilities are recomputed from the saved lse instead of being stored.
 *
 * Promises: with s = scale q.k (soft-capped when params->softcap > 0), the logits x of the
 * forward call (bias, ALiBi and masks applied) and P = exp(x - lse):
 *   dv = P^T dout;  dP = dout v^T;  dS = P * (dP - rowsum(dout * out));
 *   soft cap: dS *= 1 - tanh^2(s / cap);  dq = scale dS k;  dk = scale dS^T q.
 * With grouped-query heads, dk and dv sum over the query heads that share a KV head.
 * The bias and sinks are constants here: they enter through x and lse; the bias's own
 * gradient comes from mlxp_flash_attention_bias_grad (none for the sinks). A row with
 * no visible key gets dq = 0 and adds nothing to dk and dv. Arithmetic is float32 in a
 * fixed order: bit-identical for any thread count.
 * Shapes: q, k, v, out as mlxp_flash_attention; lse float32 [B, Hq, Lq] as returned by
 *         the forward call; dout out's shape; dq, dk, dv the shapes of q, k, v.
 * Dtypes: float32, float16 or bfloat16, each tensor independently (lse float32).
 * Parameters: params — the forward call's parameters (NULL for defaults). dq, dk, dv
 *   must not overlap each other or any input (the bias included).
 * Returns: as mlxp_flash_attention.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention_backward(const mlxp_tensor* q, const mlxp_tensor* k,
                                          const mlxp_tensor* v, const mlxp_tensor* out,
                                          const mlxp_tensor* dout, const mlxp_tensor* lse,
                                          mlxp_tensor* dq, mlxp_tensor* dk, mlxp_tensor* dv,
                                          const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_bias_grad — the gradient of the additive bias params->bias of a
 * mlxp_flash_attention call.
 *
 * Promises: with x the logits of the forward call (soft cap, then bias, ALiBi and masks)
 * and P = exp(x - lse): dL/dx = P * (dout v^T - rowsum(dout * out)), i.e. the dS of
 * mlxp_flash_attention_backward before the scale and the soft cap's derivative (the bias
 * is added after the cap); dbias sums it over the dimensions along which the bias is
 * broadcast to [B, Hq, Lq, Lk]. Masked keys and rows with no visible key add nothing.
 * Each element adds its terms in a fixed order (batch, query head, query position, then
 * key when the bias is broadcast along the keys): bit-identical for any thread count. The
 * logits and dout v^T are recomputed (taking about 70% of the backward call's time).
 * Shapes: q, k, v, out, dout, lse as mlxp_flash_attention_backward; dbias exactly the
 *         shape of params->bias.
 * Dtypes: float32, float16 or bfloat16, each tensor independently (lse float32).
 * Parameters: params — the forward call's parameters; params->bias must not be NULL.
 *   dbias must not overlap any input (the bias included).
 * Returns: as mlxp_flash_attention; MLXP_ERR_INVALID_ARGUMENT when params or
 *   params->bias is NULL; MLXP_ERR_SHAPE_MISMATCH when dbias's shape is not the bias's.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention_bias_grad(const mlxp_tensor* q, const mlxp_tensor* k,
                                           const mlxp_tensor* v, const mlxp_tensor* out,
                                           const mlxp_tensor* dout, const mlxp_tensor* lse,
                                           mlxp_tensor* dbias,
                                           const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_varlen — attention over a packed batch of sequences of different
 * lengths (FlashAttention's varlen API), with no padding.
 *
 * Promises: sequence b owns query rows cu_seqlens_q[b] .. cu_seqlens_q[b+1]-1 and key rows
 * cu_seqlens_k[b] .. cu_seqlens_k[b+1]-1; it is attended alone, with the causal mask,
 * window and ALiBi positions aligned bottom-right to its own lengths, so its rows equal
 * mlxp_flash_attention on that sequence by itself, bit for bit.
 * Shapes: q [total_q, Hq, D], k [total_k, Hkv, D], v [total_k, Hkv, Dv],
 *         out [total_q, Hq, Dv], lse NULL or float32 [Hq, total_q]; cu_seqlens_q and
 *         cu_seqlens_k int32 [num_sequences + 1], starting at 0, non-decreasing, ending at
 *         total_q and total_k.
 * Parameters: params — as mlxp_flash_attention, but layout must be MLXP_LAYOUT_BSHD and
 *   bias and key_lengths must be NULL (the lengths are the cu_seqlens).
 * Returns: as mlxp_flash_attention; MLXP_ERR_INVALID_ARGUMENT for inconsistent cu_seqlens
 *   (the message names cu_seqlens_q or cu_seqlens_k).
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention_varlen(const mlxp_tensor* q, const mlxp_tensor* k,
                                        const mlxp_tensor* v, const mlxp_tensor* cu_seqlens_q,
                                        const mlxp_tensor* cu_seqlens_k, mlxp_tensor* out,
                                        mlxp_tensor* lse, const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_varlen_backward — gradients of mlxp_flash_attention_varlen.
 *
 * Promises: each sequence's gradients are those of mlxp_flash_attention_backward on that
 * sequence by itself, bit for bit (a sequence's keys get no gradient from another
 * sequence's queries).
 * Shapes: q, k, v, out, cu_seqlens_q, cu_seqlens_k as the forward varlen call; lse float32
 *         [Hq, total_q] as returned by it (required here); dout out's shape; dq, dk, dv
 *         the shapes of q, k, v.
 * Dtypes: as mlxp_flash_attention_backward.
 * Parameters: params — the forward call's parameters (layout MLXP_LAYOUT_BSHD; bias and
 *   key_lengths NULL). dq, dk, dv must not overlap each other or any input.
 * Returns: as mlxp_flash_attention_backward; MLXP_ERR_INVALID_ARGUMENT for inconsistent
 *   cu_seqlens (the message names cu_seqlens_q or cu_seqlens_k).
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention_varlen_backward(
    const mlxp_tensor* q, const mlxp_tensor* k, const mlxp_tensor* v, const mlxp_tensor* out,
    const mlxp_tensor* dout, const mlxp_tensor* lse, const mlxp_tensor* cu_seqlens_q,
    const mlxp_tensor* cu_seqlens_k, mlxp_tensor* dq, mlxp_tensor* dk, mlxp_tensor* dv,
    const mlxp_attention_params* params);

/**
 * mlxp_chunked_cross_attention — attention over a long key axis computed chunk_size keys
 * at a time, each chunk's normalized partial result merged in increasing chunk order (as
 * mlxp_merge_attention_states, in float64); extra memory is two outputs' worth, whatever
 * Lk. Masks, windows, ALiBi, bias, key lengths and soft cap keep their meaning over the
 * whole key axis; sinks are added once.
 *
 * Promises: with chunk_size >= Lk the result is mlxp_flash_attention's, bit for bit;
 * otherwise it differs only by rounding.
 * Parameters: chunk_size — >= 0; 0 means 1024; causal — 0 or 1 (replaces params->causal;
 *   cross attention is usually 0); the rest as mlxp_flash_attention (no lse).
 * Returns, thread safety: as mlxp_flash_attention; MLXP_ERR_INVALID_ARGUMENT for a
 *   negative chunk_size.
 */
mlxp_status mlxp_chunked_cross_attention(const mlxp_tensor* q, const mlxp_tensor* k,
                                         const mlxp_tensor* v, int32_t chunk_size,
                                         int32_t causal, mlxp_tensor* out,
                                         const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_rope — mlxp_flash_attention with rotary embeddings applied to q
 * and k as they are read; q and k are left unchanged.
 *
 * Promises: equals mlxp_rope on q and on k (into copies) followed by mlxp_flash_attention,
 * bit for bit. Positions follow the bottom-right alignment: key j has position
 * rope->offset + j and query i has position rope->offset + (Lk - Lq) + i (prefill:
 * both rope->offset + i; decode of the last Lq tokens of Lk cached keys).
 * Parameters: rope — NULL for mlxp_rope_params_init's defaults, else its base, rotary_dim,
 *   pairing, scaling fields and offset are used (its layout is ignored: params->layout
 *   applies to every tensor; inverse must be 0); the rest as mlxp_flash_attention.
 * Returns, thread safety: as mlxp_flash_attention and mlxp_rope.
 */
mlxp_status mlxp_flash_attention_rope(const mlxp_tensor* q, const mlxp_tensor* k,
                                      const mlxp_tensor* v, mlxp_tensor* out, mlxp_tensor* lse,
                                      const mlxp_rope_params* rope,
                                      const mlxp_attention_params* params);

/**
 * mlxp_flash_attention_rope_backward — gradients of mlxp_flash_attention_rope with
 * respect to the unrotated q and k, and v.
 *
 * Promises: with R_q and R_k the rotations of the forward call (same positions) and dq',
 * dk', dv the gradients mlxp_flash_attention_backward gives for the rotated inputs
 * R_q q and R_k k (rotated into their dtypes, as the forward call does, so the logits
 * are its bits): dq = R_q^T dq', dk = R_k^T dk'. dq' and dk' are float32 and rotated
 * back before one rounding to dq's and dk's dtypes: the result equals mlxp_rope on copies
 * of q and k, mlxp_flash_attention_backward into float32 dq' and dk', then mlxp_rope with
 * inverse = 1 on them and that rounding, bit for bit. Bit-identical for any thread count.
 * Shapes, dtypes: as mlxp_flash_attention_backward; out and lse are those of the
 *   mlxp_flash_attention_rope call.
 * Parameters: rope, params — the forward call's (NULL for defaults; rope's layout is
 *   ignored and inverse must be 0). dq, dk, dv must not overlap each other or any input.
 * Memory: scratch of q's and k's sizes (the rotated inputs), plus float32 copies of dq
 *   and dk when they are not float32.
 * Returns: as mlxp_flash_attention_backward and mlxp_rope; on error nothing is written.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_flash_attention_rope_backward(const mlxp_tensor* q, const mlxp_tensor* k,
                                               const mlxp_tensor* v, const mlxp_tensor* out,
                                               const mlxp_tensor* dout, const mlxp_tensor* lse,
                                               mlxp_tensor* dq, mlxp_tensor* dk,
                                               mlxp_tensor* dv, const mlxp_rope_params* rope,
                                               const mlxp_attention_params* params);

/**
 * mlxp_merge_attention_states — combine two partial attention results over disjoint key
 * sets (split-KV, shared prefix): with m = max(lse_a, lse_b),
 *   out = (exp(lse_a - m) o_a + exp(lse_b - m) o_b) / (exp(lse_a - m) + exp(lse_b - m)),
 *   lse_out = m + log(exp(lse_a - m) + exp(lse_b - m)); a side with lse -Inf contributes
 *   nothing (both -Inf: zeros and -Inf). Computed in float64.
 *
 * Shapes: o_a, o_b, out [B, L, H, D] (BSHD; pass other layouts as permuted strides);
 *         lse_a, lse_b, lse_out float32 [B, H, L].
 * Dtypes: o_a, o_b, out float32, float16 or bfloat16, independently.
 * Parameters: lse_out — NULL to skip; out may be o_a or o_b itself and lse_out may be
 *   lse_a or lse_b itself (in place); other overlaps are rejected.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT; MLXP_ERR_SHAPE_MISMATCH;
 *   MLXP_ERR_UNSUPPORTED_DTYPE.
 * Thread safety: safe from any thread; concurrent calls may not write the same memory.
 */
mlxp_status mlxp_merge_attention_states(const mlxp_tensor* o_a, const mlxp_tensor* lse_a,
                                        const mlxp_tensor* o_b, const mlxp_tensor* lse_b,
                                        mlxp_tensor* out, mlxp_tensor* lse_out);

/* ======================================================================================
 * Random number generator
 *
 * A counter-based generator (Philox-4x32-10): the stream is a pure function of the seed,
 * so a seeded sampler or dropout mask reproduces exactly on any machine and thread count.
 *
 * Life cycle of an mlxp_rng handle:
 *   1. mlxp_rng_create(seed, &rng) makes a generator positioned at the start of the stream.
 *   2. mlxp_rng_uniform(rng, &t) fills tensors, advancing the stream; any number of times.
 *   3. mlxp_rng_destroy(rng) releases it. Afterwards every use of that handle returns
 *      MLXP_ERR_INVALID_HANDLE; handle values are never reused. destroy(NULL) is a no-op.
 * A handle is an opaque token, not a pointer: the library never dereferences it, so a
 * stale, foreign or corrupted handle is reported, never followed.
 * ==================================================================================== */

typedef struct mlxp_rng mlxp_rng;

/**
 * mlxp_rng_create — a new generator seeded with seed.
 *
 * Parameters: seed — any value; out_rng — not NULL, receives the handle.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_ARGUMENT if out_rng is NULL.
 * Thread safety: safe from any thread.
 */
mlxp_status mlxp_rng_create(uint64_t seed, mlxp_rng** out_rng);

/**
 * mlxp_rng_uniform — fill out with independent uniform samples in [0, 1).
 *
 * Promises: samples are drawn from Philox-4x32-10 with key (seed low 32 bits, seed high
 * 32 bits); block b = 0, 1, ... of the stream uses the 128-bit counter b as four 32-bit
 * words, least significant first, and its output words x0..x3 are used in that order.
 * Each 32-bit output word w gives the sample
 * (w >> 8) * 2^-24, rounded to out's dtype (a half-type sample can round up to 1.0).
 * Elements are filled in row-major order of out's shape, whatever its strides. One counter
 * block yields 4 words; a call consumes ceil(numel / 4) blocks, so the stream after a call
 * does not depend on how the samples were split into calls only when numel % 4 == 0.
 * Shapes: any, including 0 dims and zero elements.
 * Dtypes: float32, float16, bfloat16.
 * Parameters: rng — a live handle; out — not NULL.
 * Returns: MLXP_OK; MLXP_ERR_INVALID_HANDLE (NULL, destroyed, foreign or wrong-kind
 *   handle); MLXP_ERR_INVALID_ARGUMENT (NULL out or data, bad tensor);
 *   MLXP_ERR_UNSUPPORTED_DTYPE. On failure the stream does not advance.
 * Thread safety: safe from any thread; calls on the same handle are serialized.
 */
mlxp_status mlxp_rng_uniform(mlxp_rng* rng, mlxp_tensor* out);

/**
 * mlxp_rng_destroy — release a generator.
 *
 * Parameters: rng — a live handle, or NULL (no-op, returns MLXP_OK).
 * Returns: MLXP_OK; MLXP_ERR_INVALID_HANDLE if rng was already destroyed or is not an
 *   mlxp_rng handle.
 * Thread safety: safe from any thread, but the handle must not be used afterwards.
 */
mlxp_status mlxp_rng_destroy(mlxp_rng* rng);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MLXPRIM_H */
