// compiler/targets/cpu.ts lists the ops with a native CPU kernel; it must match the addon's
// registry exactly, and no op may be registered twice.

import { describe, expect, it } from 'vitest';
import { CPU_KERNEL_OPS, checkCpuSupport } from '../../compiler/targets/cpu.js';
import { DTYPES } from '../../runtime/index.js';
import { loadNativeAddon } from '../../runtime/native-addon.js';
import { compileTinyCnn } from './helpers.js';

describe('cpu target', () => {
  const addon = loadNativeAddon();

  it('lists exactly the kernels the native registry has', () => {
    const native = addon.kernelNames();
    expect({ missingFromCpuTs: native.filter((n) => !CPU_KERNEL_OPS.includes(n)), withoutKernel: CPU_KERNEL_OPS.filter((n) => !native.includes(n)) })
      .toEqual({ missingFromCpuTs: [], withoutKernel: [] });
  });

  it('has no op registered twice', () => {
    expect(addon.buildInfo().duplicateKernels).toEqual([]);
  });

  it('checkCpuSupport accepts tiny-cnn and names an unsupported op and node', () => {
    const { plan } = compileTinyCnn().result.emitted!;
    expect(() => checkCpuSupport(plan)).not.toThrow();
    const bad = structuredClone(plan);
    const pool = bad.kernels.find((k) => k.op === 'MaxPool')!;
    pool.op = 'NoSuchOp';
    expect(() => checkCpuSupport(bad)).toThrow(expect.objectContaining({ code: 'MCPC2012', message: `op NoSuchOp at node '${pool.sources[0]}' has no kernel for target cpu yet` }));
  });

  it('reports cpu features as booleans', () => {
    const f = addon.cpuFeatures();
    expect(typeof f.avx2).toBe('boolean');
    expect(typeof f.avx512).toBe('boolean');
    if (f.avx512) expect(f.avx2).toBe(true);
  });

  it('has one TypedArray class per runtime dtype', () => {
    expect(Object.keys(DTYPES).sort()).toEqual([
      'bf16', 'bool', 'f16', 'f32', 'f4e2m1', 'f64', 'f8e4m3fn', 'f8e4m3fnuz', 'f8e5m2', 'f8e5m2fnuz', 'f8e8m0',
      'i16', 'i2', 'i32', 'i4', 'i64', 'i8', 'u16', 'u2', 'u32', 'u4', 'u64', 'u8',
    ]);
  });
});

describe('error codes', () => {
  it('every runtime code has an entry in the diagnostics catalogue', async () => {
    const { DIAGNOSTICS } = await import('../../compiler/diagnostics.js');
    const { RUNTIME_CODES } = await import('../../runtime/errors.js');
    const catalogued = new Set(Object.values(DIAGNOSTICS).map((d) => d.code));
    for (const code of Object.values(RUNTIME_CODES)) expect(catalogued.has(code), code).toBe(true);
  });
});
