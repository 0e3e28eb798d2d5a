// DeviceTensor: a tensor in GPU memory (a buffer the native addon allocated on a CUDA device). A
// CUDA session returns outputs as device tensors when run with { outputLocation: 'device' } and
// takes them as feeds (copied device to device), so models can be chained without host round trips.
// The memory is freed by dispose(), or when the object is garbage-collected.

import { rethrowNative, RuntimeError, RUNTIME_CODES } from './errors.js';
import { loadNativeAddon, type NativeDeviceTensor } from './native-addon.js';
import { dataLength, DTYPES, elementCount, isTensorDType, Tensor, type OrtTensorType, type TensorData, type TensorDType } from './tensor.js';

const TOKEN = Symbol('DeviceTensor');
let nativeOf: (t: DeviceTensor) => NativeDeviceTensor | undefined;

export class DeviceTensor {
  readonly dtype: TensorDType;
  readonly dims: readonly number[];
  /** Where the tensor lives: 'cuda:N'. */
  readonly device: string;
  #native: NativeDeviceTensor | undefined;

  static {
    nativeOf = (t) => t.#native;
  }

  /** Device tensors come from `session.run(feeds, { outputLocation: 'device' })` or `DeviceTensor.fromHost`. */
  constructor(token: typeof TOKEN, native: NativeDeviceTensor) {
    if (token !== TOKEN) throw new TypeError('DeviceTensor cannot be constructed directly: use DeviceTensor.fromHost() or run() with outputLocation "device"');
    const dtype = native.dtype;
    if (!isTensorDType(dtype)) throw new TypeError(`device tensor of unknown dtype ${dtype}`);
    this.dtype = dtype;
    this.dims = Object.freeze([...native.dims]);
    this.device = `cuda:${native.device}`;
    this.#native = native;
  }

  /**
   * Copies a host tensor (our Tensor, or {dtype | type, dims, data} as onnxruntime's) to a new
   * device tensor on `device` ('cuda' or 'cuda:N', default cuda:0).
   */
  static async fromHost(
    tensor: Tensor | { readonly dtype?: TensorDType | OrtTensorType; readonly type?: TensorDType | OrtTensorType; readonly dims: readonly number[]; readonly data: TensorData },
    device = 'cuda:0',
  ): Promise<DeviceTensor> {
    const callSite = new Error();
    const t = tensor instanceof Tensor ? tensor : new Tensor((tensor.dtype ?? tensor.type)!, tensor.data, tensor.dims);
    try {
      const native = await loadNativeAddon().uploadTensor({ data: t.data, dtype: t.dtype, dims: t.dims, device });
      return new DeviceTensor(TOKEN, native);
    } catch (e) {
      rethrowNative(e, callSite);
    }
  }

  /** The number of elements. */
  get size(): number {
    return elementCount(this.dims);
  }

  /** The onnxruntime-common type name of the dtype. */
  get type(): OrtTensorType {
    return DTYPES[this.dtype].ort;
  }

  get disposed(): boolean {
    return this.#native === undefined || this.#native.disposed;
  }

  /** Copies the tensor to host memory. */
  async download(): Promise<Tensor> {
    const callSite = new Error();
    if (this.disposed) throw new RuntimeError(RUNTIME_CODES.disposed, 'the device tensor has been disposed');
    let data: TensorData;
    try {
      data = await this.#native!.download();
    } catch (e) {
      rethrowNative(e, callSite);
    }
    if (data.length !== dataLength(this.dtype, this.size)) throw new RuntimeError(RUNTIME_CODES.kernel, 'a device tensor downloaded to the wrong size');
    return new Tensor(this.dtype, data, this.dims);
  }

  /** Frees the device memory (after a run or download using it finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }
}

/** The runtime's own access to the native object (session.ts); undefined once disposed. */
export function nativeDeviceTensor(t: DeviceTensor): NativeDeviceTensor | undefined {
  return nativeOf(t);
}

/** Wraps a native device tensor returned by a run (session.ts). */
export function wrapNativeDeviceTensor(native: NativeDeviceTensor): DeviceTensor {
  return new DeviceTensor(TOKEN, native);
}

