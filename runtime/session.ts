// Session: a loaded artifact, ready to run on a device. load() reads and validates the artifact,
// then hands its plan and its bytes (weights used in place) to the native executor off the main
// thread (the cpu executor, or the CUDA backend for a cuda artifact on a 'cuda:N' device); run()
// validates feeds here, queues behind any run in flight (one arena per session) and resolves with
// the outputs as Tensors (or DeviceTensors left in GPU memory). Native errors are re-raised at the
// caller's call site.

import type { TensorSpec } from '../compiler/artifact/format.js';
import { readArtifact, readArtifactHead, type ArtifactHead } from './artifact-reader.js';
import { DeviceTensor, nativeDeviceTensor, wrapNativeDeviceTensor } from './device-tensor.js';
import { feedError, rethrowNative, RuntimeError, RUNTIME_CODES } from './errors.js';
import { orderFeeds, type Feeds } from './feeds.js';
import { loadNativeAddon, type CudaDeviceInfo, type NativeDeviceTensor, type NativeSession, type NativeValueRange } from './native-addon.js';
import { dataLength, DTYPES, isTensorDType, Tensor, type TensorData, type TensorDType } from './tensor.js';

export interface SessionOptions {
  /**
   * 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N'; it must match the artifact's target (compile with
   * --target cuda for a CUDA device). Default: 'cpu' for cpu artifacts, 'cuda:0' for cuda ones.
   */
  device?: string;
  /** Threads for cpu kernels, the calling thread included (default: all hardware threads). */
  threads?: number;
  /**
   * When loading from a path: also check the weights section's SHA-256 (reads every weight byte
   * once at load). Off by default: a path load reads only the preamble, header and plan (whose
   * checksums are always checked) and maps the file, using the weights in place. Loading from
   * bytes always checks every section.
   */
  verifyWeights?: boolean;
}

export interface RunOptions {
  /** Preallocated output buffers by output name, written in place instead of new ones. */
  outputs?: Readonly<Record<string, TensorData>>;
  /**
   * 'host' (the default): outputs are Tensors in host memory. 'device' (sessions on a CUDA device):
   * outputs stay in GPU memory as DeviceTensors, which a later run can take as feeds.
   */
  outputLocation?: 'host' | 'device';
}

export interface TensorInfo {
  readonly name: string;
  readonly dtype: TensorDType;
  /** -1 for a dim known only at run time (an output computed from a data-dependent op). */
  readonly shape: readonly number[];
}

const MAX_THREADS = 1024;

/** A model output whose dims are known only at run time, as the native session returns it. */
interface DynamicOutput {
  data: TensorData;
  dims: number[];
}

interface Device {
  kind: 'cpu' | 'cuda';
  /** 'cpu' or 'cuda:N'. */
  name: string;
}

/** 'cpu', 'cpu:0', 'cuda', 'cuda:N'; undefined for anything else. */
function parseDevice(device: unknown): Device | undefined {
  if (device === 'cpu' || device === 'cpu:0') return { kind: 'cpu', name: 'cpu' };
  if (device === 'cuda') return { kind: 'cuda', name: 'cuda:0' };
  const m = typeof device === 'string' ? /^cuda:(\d{1,4})$/.exec(device) : null;
  return m ? { kind: 'cuda', name: `cuda:${Number(m[1])}` } : undefined;
}

/** The CUDA devices this build and machine offer: [] without a CUDA build, driver or device. */
export function cudaDevices(): CudaDeviceInfo[] {
  return loadNativeAddon().cudaDevices();
}

function checkOptions(options: SessionOptions): void {
  const device = options.device;
  if (device !== undefined && !parseDevice(device)) {
    const cuda = loadNativeAddon().buildInfo().cuda;
    throw new RuntimeError(RUNTIME_CODES.deviceUnavailable, `device ${String(device)} is not available in this build (devices: cpu${cuda ? ', cuda, cuda:N' : ''})`);
  }
  if (device !== undefined && parseDevice(device)!.kind === 'cuda' && !loadNativeAddon().buildInfo().cuda) {
    throw new RuntimeError(
      RUNTIME_CODES.deviceUnavailable,
      `device ${String(device)} is not available in this build: this build of mcpc has no CUDA backend (rebuild it where a CUDA toolkit with cuBLAS and NVRTC is installed, e.g. npx cmake-js compile --CDMCPC_CUDA=ON --CDCUDAToolkit_ROOT=<toolkit>)`,
    );
  }
  const t = options.threads;
  if (t !== undefined && (!Number.isSafeInteger(t) || t < 1 || t > MAX_THREADS)) {
    throw new RangeError(`options.threads must be an integer from 1 to ${MAX_THREADS}, got ${String(t)}`);
  }
  if (options.verifyWeights !== undefined && typeof options.verifyWeights !== 'boolean') {
    throw new TypeError(`options.verifyWeights must be a boolean, got ${String(options.verifyWeights)}`);
  }
}

function info(s: TensorSpec, kind: string): TensorInfo {
  if (!isTensorDType(s.dtype)) {
    throw new RuntimeError(RUNTIME_CODES.unsupported, `${kind} ${s.name} has dtype ${s.dtype}, which the runtime does not support yet`);
  }
  return Object.freeze({ name: s.name, dtype: s.dtype, shape: Object.freeze([...s.shape]) });
}

export class Session {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** The artifact's path, header and plan (a path load keeps the weights in the mapped file). */
  readonly artifact: ArtifactHead;
  /** Where the session runs: 'cpu' or 'cuda:N'. */
  readonly device: string;
  #native: NativeSession | undefined;
  /** Tail of the run queue: runs start one after another, never together. */
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;

  private constructor(artifact: ArtifactHead, native: NativeSession, inputs: readonly TensorInfo[], outputs: readonly TensorInfo[], device: string) {
    this.artifact = artifact;
    this.device = device;
    this.#native = native;
    this.inputs = inputs;
    this.outputs = outputs;
  }

  /**
   * Loads an artifact from a path or from its bytes (which must not be modified afterwards). From a
   * path only the header and plan are read here; the native side maps the file read-only and uses
   * the weights in place (pages of weights that kernels packed at load are given back). The file
   * must not be modified while the session lives.
   */
  static async load(pathOrBytes: string | Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const callSite = new Error();
    checkOptions(options);
    let artifact: ArtifactHead;
    let source: { path: string } | { bytes: Uint8Array };
    let weightsOffset: number;
    let weightsLength: number;
    if (typeof pathOrBytes === 'string') {
      const head = readArtifactHead(pathOrBytes, { verifyWeights: options.verifyWeights === true });
      artifact = { path: head.path, header: head.header, plan: head.plan };
      source = { path: pathOrBytes };
      weightsOffset = head.weightsOffset;
      weightsLength = head.weightsLength;
    } else if (pathOrBytes instanceof Uint8Array) {
      const full = readArtifact(pathOrBytes);
      artifact = full;
      source = { bytes: full.bytes };
      const weights = full.header.sections.find((s) => s.name === 'weights')!;  // readArtifact checked it exists
      weightsOffset = weights.offset;
      weightsLength = weights.length;
    } else throw new TypeError('Session.load expects a path or the artifact bytes (Uint8Array)');
    const { header, plan } = artifact;
    const device = parseDevice(options.device ?? (header.target === 'cuda' ? 'cuda:0' : 'cpu'))!;
    if (device.kind === 'cuda' && !loadNativeAddon().buildInfo().cuda) {
      throw new RuntimeError(
        RUNTIME_CODES.deviceUnavailable,
        `device ${device.name} is not available in this build: this build of mcpc has no CUDA backend, and ${artifact.path} is compiled for target cuda`,
      );
    }
    if (header.target !== device.kind || plan.target !== device.kind) {
      const hint = header.target === 'cuda' ? "load it with device 'cuda:N'" : "load it with device 'cpu'";
      throw new RuntimeError(
        RUNTIME_CODES.targetMismatch,
        `${artifact.path} is compiled for target ${header.target}; it cannot run on device ${device.name} (compile it with --target ${device.kind}, or ${hint})`,
      );
    }
    const inputs = Object.freeze(header.inputs.map((s) => info(s, 'input')));
    const outputs = Object.freeze(header.outputs.map((s) => info(s, 'output')));
    const addon = loadNativeAddon();
    let native: NativeSession;
    try {
      native = await addon.loadSession({
        plan,
        arenaSize: header.arena.size,
        ...source,
        weightsOffset,
        weightsLength,
        weights: header.weights.map((w) => ({ offset: w.offset, byteLength: w.byteLength })),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(device.kind === 'cuda' ? { device: device.name } : {}),
      });
    } catch (e) {
      rethrowNative(e, callSite);
    }
    return new Session(artifact, native, inputs, outputs, device.name);
  }

  /** Threads the session's kernels use (0 once disposed; 1 on a CUDA device: the thread that enqueues). */
  get threads(): number {
    return this.#native?.threads ?? 0;
  }

  /**
   * On a CUDA device: 'pending' until the first run, then 'captured' (later runs replay one CUDA
   * graph), 'off' (MCPC_CUDA_GRAPH=0 or MCPC_CUDA_SYNC=1) or 'failed: <why>' (runs stay eager).
   */
  get cudaGraph(): string | undefined {
    return this.#native?.cudaGraph;
  }
  /**
   * CUDA sessions: the plan's L2 tier as the device took it: 'none' (no window in the plan),
   * 'window of N bytes, M persisting; K graph kernel nodes', or 'off: <why>'.
   */
  get cudaL2Window(): string | undefined {
    return this.#native?.cudaL2Window;
  }

  /**
   * On a CUDA device: bytes of device memory the session holds (weights, arena, input and output
   * buffers, library workspace); undefined on cpu or once disposed.
   */
  get deviceBytes(): number | undefined {
    return this.#native?.deviceBytes;
  }

  get disposed(): boolean {
    return this.#native === undefined;
  }

  /** Runs the model; the work happens off the main thread. */
  async run(feeds: Feeds, options?: RunOptions & { outputLocation?: 'host' }): Promise<Record<string, Tensor>>;
  async run(feeds: Feeds, options: RunOptions & { outputLocation: 'device' }): Promise<Record<string, DeviceTensor>>;
  async run(feeds: Feeds, options: RunOptions = {}): Promise<Record<string, Tensor | DeviceTensor>> {
    const callSite = new Error();
    if (!this.#native) throw new RuntimeError(RUNTIME_CODES.disposed, 'the session has been disposed');
    const onDevice = this.#outputLocation(options);
    const ordered = orderFeeds(feeds, this.artifact.header.inputs);
    const inputs = ordered.map((x, i) => this.#nativeFeed(x, this.artifact.header.inputs[i]!.name));
    const provided = this.#outputBuffers(options.outputs);
    // Outputs with dims known only at run time come back as { data, dims }.
    const data: (TensorData | NativeDeviceTensor | DynamicOutput)[] = await this.#enqueue(
      (native) => (onDevice ? native.run(inputs, undefined, 'device') : native.run(inputs, provided)),
      callSite,
    );
    const out: Record<string, Tensor | DeviceTensor> = {};
    this.outputs.forEach((spec, i) => {
      const d = data[i]!;
      if (onDevice) out[spec.name] = wrapNativeDeviceTensor(d as NativeDeviceTensor);
      else if (!ArrayBuffer.isView(d)) out[spec.name] = new Tensor(spec.dtype, (d as DynamicOutput).data, (d as DynamicOutput).dims);
      else out[spec.name] = new Tensor(spec.dtype, d as TensorData, spec.shape);
    });
    return out;
  }

  /**
   * cpu sessions: runs once on `feeds` and returns, for every float32 value a kernel wrote, the
   * largest finite |x| it held and whether it held a NaN or an infinity, by value name (the
   * artifact's value names; a value written by several kernels keeps the largest). The model's
   * float32 inputs are included. This is what an fp16 compile calibrates on (cli/calibrate.ts):
   * compiled without the fuse pass, every node's output is a kernel's.
   */
  async valueRanges(feeds: Feeds): Promise<Map<string, { maxAbs: number; nonFinite: boolean }>> {
    const callSite = new Error();
    if (!this.#native) throw new RuntimeError(RUNTIME_CODES.disposed, 'the session has been disposed');
    if (this.device !== 'cpu' || !this.#native.runObserved) {
      throw new RuntimeError(RUNTIME_CODES.unsupported, `valueRanges runs on cpu sessions; this one runs on ${this.device}`);
    }
    const ordered = orderFeeds(feeds, this.artifact.header.inputs);
    const inputs = ordered.map((x, i) => this.#nativeFeed(x, this.artifact.header.inputs[i]!.name) as TensorData);
    const ranges: NativeValueRange[] = (await this.#enqueue((native) => native.runObserved!(inputs), callSite)).ranges;
    const out = new Map<string, { maxAbs: number; nonFinite: boolean }>();
    const note = (name: string, maxAbs: number, nonFinite: boolean) => {
      const had = out.get(name);
      out.set(name, had ? { maxAbs: Math.max(had.maxAbs, maxAbs), nonFinite: had.nonFinite || nonFinite } : { maxAbs, nonFinite });
    };
    this.artifact.header.inputs.forEach((spec, i) => {
      const x = ordered[i];
      if (spec.dtype !== 'f32' || !(x instanceof Float32Array)) return;
      let m = 0;
      let bad = false;
      for (const v of x) {
        const a = Math.abs(v);
        if (Number.isFinite(a)) m = Math.max(m, a);
        else bad = true;
      }
      note(spec.name, m, bad);
    });
    for (const r of ranges) note(r.name, r.maxAbs, r.nonFinite);
    return out;
  }

  /**
   * Runs `work` on the native session in turn: an idle session starts it now (it is then in
   * flight: dispose() lets it finish); a busy one queues it, so runs never wait inside the native
   * mutex holding a libuv pool thread. Native errors are rethrown at `callSite`.
   */
  async #enqueue<T>(work: (native: NativeSession) => Promise<T>, callSite: Error): Promise<T> {
    const go = async () => {
      // dispose() may have come while this run waited its turn.
      if (!this.#native) throw new RuntimeError(RUNTIME_CODES.disposed, 'the session has been disposed');
      try {
        return await work(this.#native);
      } catch (e) {
        rethrowNative(e, callSite);
      }
    };
    const result = this.#pending === 0 ? go() : this.#queue.catch(() => undefined).then(go);
    this.#pending++;
    this.#queue = result;
    try {
      return await result;
    } finally {
      this.#pending--;
    }
  }

  /** Frees the session's native memory (after a run in flight finishes). Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** Whether outputs stay on the device (validating options.outputLocation). */
  #outputLocation(options: RunOptions): boolean {
    const where = options.outputLocation;
    if (where === undefined || where === 'host') return false;
    if (where !== 'device') throw feedError('type', `options.outputLocation must be 'host' or 'device', got ${String(where)}`);
    if (this.device === 'cpu') throw feedError('type', "options.outputLocation 'device' needs a session on a CUDA device; this one runs on cpu");
    if (options.outputs) throw feedError('type', "options.outputs (host buffers) cannot be combined with outputLocation 'device'");
    return true;
  }

  /** A feed as the native session takes it: host data, or (CUDA sessions) a device tensor. */
  #nativeFeed(x: TensorData | DeviceTensor, name: string): TensorData | NativeDeviceTensor {
    if (!(x instanceof DeviceTensor)) return x;
    if (this.device === 'cpu') throw feedError('type', `feeds.${name} is a DeviceTensor on ${x.device}; this session runs on cpu (download() it first)`);
    const native = nativeDeviceTensor(x);
    if (!native || native.disposed) throw feedError('type', `feeds.${name} is a DeviceTensor that has been disposed`);
    return native;
  }

  #outputBuffers(given: RunOptions['outputs']): (TensorData | undefined)[] | undefined {
    if (!given) return undefined;
    for (const key of Object.keys(given)) {
      if (!this.outputs.some((o) => o.name === key)) throw feedError('type', `options.outputs.${key} is not an output of the model`);
    }
    return this.outputs.map((spec) => {
      const buf = given[spec.name];
      if (buf === undefined) return undefined;
      if (spec.shape.includes(-1)) throw feedError('type', `options.outputs.${spec.name} cannot be given: its dims are known only at run time`);
      const expected = DTYPES[spec.dtype].array;
      if (!(buf instanceof expected)) throw feedError('type', `options.outputs.${spec.name} must be a ${expected.name}`);
      const count = dataLength(spec.dtype, spec.shape.reduce((a, d) => a * d, 1));
      if (buf.length !== count) {
        const unit = DTYPES[spec.dtype].packedBits ? 'bytes' : 'elements';
        throw feedError('range', `options.outputs.${spec.name} has ${buf.length} ${unit}, the output needs ${count}`);
      }
      return buf;
    });
  }
}
