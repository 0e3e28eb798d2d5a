// MaxPool and AveragePool over 1 to 3 spatial dims, one thread per output element, with the
// window geometry of the reference (compiler/ops/pooling.ts planWindow: pads, auto_pad, strides,
// dilations, ceil_mode). Padding never contributes a value; AveragePool divides by the taps inside
// the input, or with count_include_pad by the taps inside the explicitly padded input. A fused
// prologue is evaluated per tap (X(e)), the epilogue per output element. NhwcMaxPool and
// NhwcAveragePool (the channels-last pass's) read [N, spatial..., C]: adjacent threads take
// adjacent channels, so every tap is a coalesced read.

import type { CudaLaunch } from '../../artifact/format.js';
import { planWindow, to3 } from '../../ops/pooling.js';
import type { KernelContext } from './context.js';
import { anchorInputDtype, emitSteps, OperandLoads } from './elementwise.js';
import { attrInt, attrInts, irAttrs } from './plan-attrs.js';
import { anchorInputShape, inputReader } from './reduction.js';
import { computeType, convert, gridStride, gridStrideLoop, indent, indexType, intLit, isFloatDtype, KernelParams, literal, numel, store, type Val } from './source.js';

export const POOL_OPS: ReadonlySet<string> = new Set(['MaxPool', 'AveragePool', 'NhwcMaxPool', 'NhwcAveragePool']);

export function generatePool(ctx: KernelContext): CudaLaunch[] {
  const k = ctx.kernel;
  const isMax = k.op === 'MaxPool' || k.op === 'NhwcMaxPool';
  const channelsLast = k.op.startsWith('Nhwc');
  if (k.outputs.length > 1) throw ctx.refuse('with an Indices output');
  const dims = anchorInputShape(ctx);
  const xt = anchorInputDtype(ctx);
  if (!isFloatDtype(xt) && !(isMax && xt !== 'bool')) throw ctx.refuse(`on ${xt}`);
  const sp = channelsLast ? dims.slice(1, -1) : dims.slice(2);
  const C = channelsLast ? dims[dims.length - 1]! : 1;
  if (sp.length < 1 || sp.length > 3) throw ctx.refuse(`with ${sp.length} spatial dims`);
  if (isMax && attrInt(k.attrs, 'storage_order', 0) !== 0) throw ctx.refuse('with storage_order=1');
  const kernel = attrInts(k.attrs, 'kernel_shape');
  if (!kernel) throw ctx.refuse('without kernel_shape');
  const plan = planWindow(irAttrs(k.attrs), sp, kernel, attrInt(k.attrs, 'ceil_mode', 0) !== 0);
  const outSp = plan.out as number[];
  const n = sp.length;
  const [D, H, W] = to3(sp, 1) as [number, number, number];
  const [KD, KH, KW] = to3(kernel, 1) as [number, number, number];
  const [OD, OH, OW] = to3(outSp, 1) as [number, number, number];
  const [sd, sh, sw] = to3(plan.strides, 1) as [number, number, number];
  const [dd, dh, dw] = to3(plan.dilations, 1) as [number, number, number];
  const [pd, ph, pw] = to3(plan.pads.slice(0, n), 0) as [number, number, number];
  const [ed, eh, ew] = to3(plan.pads.slice(n), 0) as [number, number, number];
  const includePad = attrInt(k.attrs, 'count_include_pad', 0) !== 0;
  const out = ctx.output();
  const total = numel(out.shape);
  const it = indexType(Math.max(total, numel(dims)));
  const ct = computeType(xt);
  const params = new KernelParams();
  const body: string[] = [...inputReader(ctx, params, dims, it)];
  const outPlane = OD * OH * OW;
  // NCHW: i = nc * plane + spatial offset. NHWC: i = (n * plane + spatial offset) * C + c; `tapAt`
  // is the input offset of the tap at (id, ih, iw).
  const pos = channelsLast ? 'p' : 'i';
  if (channelsLast) body.push(`const ${it} c = i % ${intLit(C)};`, `const ${it} p = i / ${intLit(C)};`);
  body.push(
    `const ${it} nc = ${pos} / ${intLit(outPlane)};`,
    `const int od = ${OD === 1 ? '0' : `(int)((${pos} / ${intLit(OH * OW)}) % ${OD})`};`,
    `const int oh = ${OH === 1 ? '0' : `(int)((${pos} / ${OW}) % ${OH})`};`,
    `const int ow = ${OW === 1 ? '0' : `(int)(${pos} % ${OW})`};`,
    `const ${it} plane = nc * ${intLit(D * H * W)};`,
  );
  const spatial = `(${it})(id * ${H} + ih) * ${W} + iw`;
  const tapAt = channelsLast ? `(plane + ${spatial}) * ${intLit(C)} + c` : `plane + ${spatial}`;
  const inf = literal(Infinity, xt);
  body.push(isMax ? `${ct} acc = ${isFloatDtype(xt) ? `-${inf}` : `(${ct})0`};` : `${ct} acc = 0;`, 'int cnt = 0;');
  const tap = (o: string, s: number, p: number, k: string, d: number) => `${o} * ${s} - ${p} + ${k} * ${d}`;
  body.push(
    `for (int kd = 0; kd < ${KD}; kd++) {`,
    `  const int id = ${tap('od', sd, pd, 'kd', dd)};`,
    `  if (id < 0 || id >= ${D}) continue;`,
    `  for (int kh = 0; kh < ${KH}; kh++) {`,
    `    const int ih = ${tap('oh', sh, ph, 'kh', dh)};`,
    `    if (ih < 0 || ih >= ${H}) continue;`,
    `    for (int kw = 0; kw < ${KW}; kw++) {`,
    `      const int iw = ${tap('ow', sw, pw, 'kw', dw)};`,
    `      if (iw < 0 || iw >= ${W}) continue;`,
    `      const ${ct} a = X(${tapAt});`,
    isMax ? '      if (cnt == 0 || a > acc) acc = a;' : '      acc += a;',
    '      cnt++;',
    '    }',
    '  }',
    '}',
  );
  if (!isMax) {
    if (includePad) {
      // Taps inside the explicitly padded input, per axis.
      const padded = (o: string, s: number, p: number, kk: number, d: number, size: number, e: number, name: string) => [
        `int ${name} = 0;`,
        `for (int t = 0; t < ${kk}; t++) { const int x = ${tap(o, s, p, 't', d)}; if (x >= -${p} && x < ${size + e}) ${name}++; }`,
      ];
      body.push(...padded('od', sd, pd, KD, dd, D, ed, 'cd'), ...padded('oh', sh, ph, KH, dh, H, eh, 'ch'), ...padded('ow', sw, pw, KW, dw, W, ew, 'cw'));
      body.push(`acc = acc / (${ct})(cd * ch * cw);`);
    } else {
      body.push(`acc = acc / (${ct})cnt;`);
    }
  }
  let result: Val = { expr: 'acc', dtype: xt };
  if (ctx.epilogue.length) {
    const loads = new OperandLoads(ctx, params, out.shape, 'i', body, 'y');
    result = emitSteps(ctx.epilogue, (o) => {
      if ('input' in o) return loads.input(o.input);
      if ('acc' in o) return { expr: 'acc', dtype: xt };
      throw new Error('cuda: unexpected operand');
    }, 's', body);
  }
  ctx.checkDtype(out.dtype);
  const dst = params.write(out.id, out.dtype);
  body.push(store(out.dtype, dst, 'i', convert(result, out.dtype)));
  const lines = [`${gridStrideLoop('i', total)} {`, ...indent(body, 2), '}'];
  const entry = ctx.module.addKernel(ctx.entry(), params.declaration, indent(lines, 2).join('\n') + '\n');
  return [{ entry, ...gridStride(total), args: params.slots }];
}
