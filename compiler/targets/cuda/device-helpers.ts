// The device helpers every plan's CUDA source carries after the prelude include: kept in the
// generated source rather than in native/cuda/mcpc_prelude.cuh so that the prelude stays the
// runtime's minimal contract (storage types and conversions) and the CPU emulator needs nothing new.

/**
 * Device helpers every plan's source starts with (after the prelude): NaN-propagating min/max, the
 * float-to-integer conversion of Cast, rounding to the half types, Python's modulo (Mod fmod=0) and
 * block reductions (warp shuffles, then one shared-memory exchange; blockDim.x a multiple of 32; every
 * thread of the block calls them).
 */
export const DEVICE_HELPERS = `
__device__ __forceinline__ float mcpc_round_f16(float x) { return mcpc_f16_to_f32(mcpc_f32_to_f16(x)); }
__device__ __forceinline__ float mcpc_round_bf16(float x) { return mcpc_bf16_to_f32(mcpc_f32_to_bf16(x)); }
__device__ __forceinline__ mcpc_i64 mcpc_f2i64(double x) {
  if (x != x) return 0;
  if (x >= 9.2233720368547758e18) return (mcpc_i64)0x7fffffffffffffffLL;
  if (x <= -9.2233720368547758e18) return (mcpc_i64)(-0x7fffffffffffffffLL - 1);
  return (mcpc_i64)x;
}
// max/min that return NaN when either operand is NaN (numpy and the reference interpreter).
__device__ __forceinline__ float mcpc_maxf(float a, float b) { return (a > b || a != a) ? a : b; }
__device__ __forceinline__ float mcpc_minf(float a, float b) { return (a < b || a != a) ? a : b; }
__device__ __forceinline__ double mcpc_maxd(double a, double b) { return (a > b || a != a) ? a : b; }
__device__ __forceinline__ double mcpc_mind(double a, double b) { return (a < b || a != a) ? a : b; }
__device__ __forceinline__ float mcpc_sigmoidf(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}
__device__ __forceinline__ double mcpc_sigmoidd(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}
template <typename T> __device__ __forceinline__ T mcpc_maxi(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T mcpc_mini(T a, T b) { return a < b ? a : b; }
// Python's modulo: the result takes the divisor's sign (Mod with fmod=0).
__device__ __forceinline__ float mcpc_floormodf(float x, float y) {
  float r = fmodf(x, y);
  if (r == 0.0f) return y < 0.0f ? -0.0f : 0.0f;
  if ((r < 0.0f) != (y < 0.0f)) r += y;
  return r;
}
__device__ __forceinline__ double mcpc_floormodd(double x, double y) {
  double r = fmod(x, y);
  if (r == 0.0) return y < 0.0 ? -0.0 : 0.0;
  if ((r < 0.0) != (y < 0.0)) r += y;
  return r;
}
template <typename T> __device__ __forceinline__ T mcpc_floormodi(T x, T y) {
  if (y == 0) return 0;
  T r = x % y;
  if (r != 0 && ((r < 0) != (y < 0))) r += y;
  return r;
}
// Block reductions (blockDim.x a multiple of 32): each warp reduces with shuffles, lane 0 of each
// writes its partial to sh (one per warp), every warp reduces those again, so all threads return
// the result after two barriers (one for a single warp). Like the shared-memory tree they replace,
// they are block barriers: shared memory written before the call is visible after it. Max and min
// propagate NaN.
template <typename T>
__device__ __forceinline__ T mcpc_warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T>
__device__ __forceinline__ T mcpc_warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) { const T w = __shfl_xor_sync(0xffffffffu, v, o); if (w > v || w != w) v = w; }
  return v;
}
template <typename T>
__device__ __forceinline__ T mcpc_warp_min(T v) {
  for (int o = 16; o > 0; o >>= 1) { const T w = __shfl_xor_sync(0xffffffffu, v, o); if (w < v || w != w) v = w; }
  return v;
}
#define MCPC_BLOCK_REDUCE(name, warp_fn, fill)                          \\
  template <typename T>                                                 \\
  __device__ __forceinline__ T name(T v, T* sh) {                       \\
    v = warp_fn(v);                                                     \\
    const unsigned warps = blockDim.x >> 5, lane = threadIdx.x & 31u;   \\
    if (warps == 1) { __syncthreads(); return v; }                     \\
    if (lane == 0) sh[threadIdx.x >> 5] = v;                            \\
    __syncthreads();                                                    \\
    T r = lane < warps ? sh[lane] : (fill);                             \\
    r = warp_fn(r);                                                     \\
    __syncthreads();                                                    \\
    return r;                                                           \\
  }
MCPC_BLOCK_REDUCE(mcpc_block_sum, mcpc_warp_sum, T(0))
MCPC_BLOCK_REDUCE(mcpc_block_max, mcpc_warp_max, sh[0])
MCPC_BLOCK_REDUCE(mcpc_block_min, mcpc_warp_min, sh[0])
#undef MCPC_BLOCK_REDUCE
`;
