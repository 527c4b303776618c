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
