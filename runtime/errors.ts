// Errors of the runtime. Every error has an mcpc code (MCPC4xxx artifacts and plans, MCPC5xxx
// execution; status.h holds the native side's). Errors from the native addon are re-raised here
// at the JS call site, so their stack points at the caller's `await session.run(...)`.

export const RUNTIME_CODES = {
  invalidPlan: 'MCPC4010',
  unsupported: 'MCPC4011',
  badFeed: 'MCPC5001',
  outOfMemory: 'MCPC5002',
  kernel: 'MCPC5003',
  disposed: 'MCPC5004',
  /** The native addon is missing or cannot be loaded. */
  addonUnavailable: 'MCPC5005',
  /** The requested device is not available in this build or on this machine. */
  deviceUnavailable: 'MCPC5006',
  /** The artifact was compiled for another target than the device it is loaded on. */
  targetMismatch: 'MCPC4012',
  /** A CUDA, cuBLAS, cuDNN or NVRTC call failed (the message names the kernel and the call). */
  cudaFailed: 'MCPC5101',
  /** Out of device memory. */
  deviceOutOfMemory: 'MCPC5102',
  /** NVRTC could not compile the plan's CUDA source (the message holds the first lines of its log). */
  cudaCompileFailed: 'MCPC5103',
  /** The plan needs a newer GPU than the device. */
  computeCapability: 'MCPC5104',
} as const;

export class RuntimeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

/** A feed error: TypeError (wrong name, dtype, container) or RangeError (wrong shape), with code MCPC5001. */
export function feedError(kind: 'type' | 'range', message: string): TypeError | RangeError {
  const e = kind === 'type' ? new TypeError(message) : new RangeError(message);
  Object.defineProperty(e, 'code', { value: RUNTIME_CODES.badFeed, enumerable: true });
  return e;
}

/**
 * Turns an error from the native addon into one thrown at the call site: same class family,
 * message and code, with the stack of `callSite` (an Error created before the await).
 */
export function rethrowNative(e: unknown, callSite: Error): never {
  const err = e as Error & { code?: string };
  if (!(err instanceof Error)) throw e;
  const code = typeof err.code === 'string' ? err.code : RUNTIME_CODES.kernel;
  let out: Error;
  if (err instanceof TypeError || err instanceof RangeError) {
    out = err instanceof TypeError ? new TypeError(err.message) : new RangeError(err.message);
    Object.defineProperty(out, 'code', { value: code, enumerable: true });
  } else {
    out = new RuntimeError(code, err.message);
  }
  const frames = callSite.stack?.split('\n').slice(1).join('\n');
  if (frames) out.stack = `${out.name}: ${out.message}\n${frames}`;
  throw out;
}
