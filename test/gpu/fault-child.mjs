// Child process of test/gpu/cuda-runtime.test.mjs for faults that leave the GPU context unusable
// (the rest of that process's CUDA work fails, so they cannot run in the test process). Prints one
// JSON line: the errors seen and whether the process still works.
//   node fault-child.mjs illegal-address | param-mismatch

import { join } from 'node:path';
import { launch1d, PlanBuilder, ROOT } from './helpers.mjs';

const { Session, Tensor } = await import(join(ROOT, 'dist', 'runtime', 'index.js'));
const mode = process.argv[2];
const result = { mode };
const err = (e) => ({ code: e.code, message: e.message, name: e.name });

if (mode === 'illegal-address') {
  const p = new PlanBuilder();
  const x = p.input('x', 'f32', [256]);
  const t = p.temp('t', 'f32', [256]);
  const y = p.output('y', 'f32', [256]);
  p.source = `
extern "C" __global__ void copy(const float* x, float* y) { y[threadIdx.x] = x[threadIdx.x]; }
extern "C" __global__ void wild(const float* x, float* y) {
  // Far outside any allocation.
  y[threadIdx.x + (1ll << 40)] = x[threadIdx.x];
}
`;
  p.kernel({ op: 'Add', inputs: [x], outputs: [t], source: '/fine', cuda: { before: [], after: [launch1d('copy', 256, [x, t])] } });
  p.kernel({ op: 'Add', inputs: [t], outputs: [y], source: '/bad', cuda: { before: [], after: [launch1d('wild', 256, [t, y])] } });
  const s = await Session.load(p.build(), { device: 'cuda:0' });
  const feeds = { x: new Tensor('f32', new Float32Array(256), [256]) };
  try {
    await s.run(feeds);
  } catch (e) {
    result.first = err(e);
  }
  try {
    await s.run(feeds);
  } catch (e) {
    result.second = err(e);
  }
  s.dispose();
  // The process goes on: JS and the cpu backend still work.
  const q = new PlanBuilder({ target: 'cpu' });
  const a = q.input('x', 'f32', [4]);
  const b = q.output('y', 'f32', [4]);
  q.kernel({ op: 'Relu', inputs: [a], outputs: [b] });
  const cpu = await Session.load(q.build(), { device: 'cpu' });
  const out = await cpu.run({ x: new Tensor('f32', Float32Array.from([-1, 2, -3, 4]), [4]) });
  result.alive = Array.from(out.y.data).join(',') === '0,2,0,4';
  cpu.dispose();
} else if (mode === 'param-mismatch') {
  const p = new PlanBuilder();
  const x = p.input('x', 'f32', [4]);
  const y = p.output('y', 'f32', [4]);
  p.source = 'extern "C" __global__ void three(const float* x, const float* z, float* y) { y[threadIdx.x] = x[threadIdx.x] + z[0]; }\n';
  p.kernel({ op: 'Add', inputs: [x], outputs: [y], cuda: { before: [], after: [launch1d('three', 4, [x, y])] } });
  try {
    await Session.load(p.build(), { device: 'cuda:0' });
    result.first = { code: 'loaded' };
  } catch (e) {
    result.first = err(e);
  }
  result.alive = true;
} else {
  result.error = `unknown mode ${mode}`;
}
console.log(JSON.stringify(result));
