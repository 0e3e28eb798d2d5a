// The catalogue of user-facing diagnostics. Every user error the compiler reports has a code
// (MCPC1xxx input files and models, MCPC2xxx ops and graphs, MCPC3xxx options, MCPC4xxx artifacts,
// MCPC5xxx execution) and a message template; an exception that is not a DiagnosticError is a bug.

export const DIAGNOSTICS = {
  fileUnreadable: { code: 'MCPC1001', message: 'cannot read {path}: {reason}' },
  notOnnx: { code: 'MCPC1002', message: '{path} is not a valid ONNX model: {reason}' },
  noGraph: { code: 'MCPC1003', message: '{path} has no graph' },
  unsupportedIrVersion: { code: 'MCPC1004', message: 'ONNX IR version {version} is not supported (supported: 3 to {max})' },
  unsupportedOpset: { code: 'MCPC1005', message: 'opset {version} of domain {domain} is not supported (supported: {range})' },
  missingOpsetImport: { code: 'MCPC1006', message: 'node {node} uses the default ONNX domain, but the model imports no opset for it' },
  externalDataUnreadable: { code: 'MCPC1007', message: 'external data of tensor {tensor} cannot be read from {location}: {reason}' },
  malformedTensor: { code: 'MCPC1008', message: 'tensor {tensor} is malformed: {reason}' },
  unsupportedDtype: { code: 'MCPC1009', message: '{what} has data type {dtype}, which the compiler does not support' },
  unsupportedInputType: { code: 'MCPC1010', message: 'graph {kind} {name} is not a tensor ({type})' },

  unsupportedOp: { code: 'MCPC2001', message: 'unsupported op {op} (opset {opset}) at node {node}' },
  unsupportedOpVersion: { code: 'MCPC2002', message: 'op {op} is supported from opset {since}, the model uses opset {opset} at node {node}' },
  unsupportedSubgraph: { code: 'MCPC2003', message: 'op {op} at node {node} has a subgraph; control flow (If, Loop, Scan) is not supported yet' },
  undefinedValue: { code: 'MCPC2004', message: 'node {node} reads {value}, which no node, input or initializer defines' },
  graphCycle: { code: 'MCPC2005', message: 'the graph has a cycle through node {node}' },
  duplicateValue: { code: 'MCPC2006', message: 'value {value} is defined twice (second time by {node})' },
  invalidNode: { code: 'MCPC2007', message: 'node {node} ({op}): {reason}' },
  undefinedOutput: { code: 'MCPC2008', message: 'graph output {value} is not computed by the graph' },
  evaluationFailed: { code: 'MCPC2009', message: 'node {node} ({op}) failed at run time: {reason}' },
  unsupportedFeature: { code: 'MCPC2011', message: 'node {node} ({op}) uses a feature that is not supported yet: {reason}' },
  noTargetKernel: { code: 'MCPC2012', message: 'op {op} at node {node} has no kernel for target {target} yet' },
  dynamicShape: { code: 'MCPC2013', message: 'node {node} ({op}): output {value} has a data-dependent shape [{shape}], which compiled plans do not support yet' },
  dynamicShapeReader: { code: 'MCPC2014', message: 'node {node} ({op}) reads {value}, whose dims are known only at run time; compiled plans run only NonZero, Compress, Unique, NonMaxSuppression, Range and elementwise ops on such values' },
  dynamicShapeTarget: { code: 'MCPC2015', message: 'kernel {kernel} at node {node} ({op}) has outputs whose dims are known only at run time, which target {target} does not support (compile for cpu)' },
  verifierFailed: { code: 'MCPC2010', message: 'IR verification failed after pass {pass}: {reason}' },

  badFlag: { code: 'MCPC3001', message: '{reason}' },
  badShapeBinding: { code: 'MCPC3002', message: 'invalid --shape {binding}: {reason}' },
  unboundSymbol: { code: 'MCPC3003', message: 'input {input} has symbolic dim {dim}; bind it with --shape {input}={example}' },
  unknownPass: { code: 'MCPC3004', message: 'unknown pass {pass} (passes: {passes})' },
  unknownPhase: { code: 'MCPC3005', message: 'unknown phase {phase} (phases: {phases})' },
  mcirSyntax: { code: 'MCPC3006', message: '{path}:{line}:{col}: {reason}' },

  artifactMagic: { code: 'MCPC4001', message: '{path} is not an mcpc artifact (bad magic number)' },
  artifactVersion: { code: 'MCPC4002', message: '{path} is artifact format version {version}; this build reads version {supported}' },
  artifactCorrupt: { code: 'MCPC4003', message: '{path} is corrupted: {reason}' },
  artifactTruncated: { code: 'MCPC4004', message: '{path} is truncated: {reason}' },

  // Raised by the runtime (runtime/errors.ts, native/core/status.h); listed here so that every code
  // has one entry in one catalogue.
  invalidPlan: { code: 'MCPC4010', message: 'the plan in {path} is inconsistent: {reason}' },
  noKernel: { code: 'MCPC4011', message: 'no {target} kernel for {op} ({detail}) at node {node}' },
  targetMismatch: { code: 'MCPC4012', message: '{path} is compiled for target {target}; it cannot run on device {device}' },
  badFeed: { code: 'MCPC5001', message: '{reason}' },
  outOfMemory: { code: 'MCPC5002', message: 'out of memory: {reason}' },
  kernelFailed: { code: 'MCPC5003', message: 'kernel {op} at node {node} failed: {reason}' },
  disposed: { code: 'MCPC5004', message: 'the session has been disposed' },
  addonUnavailable: { code: 'MCPC5005', message: 'the native addon cannot be loaded: {reason}' },
  deviceUnavailable: { code: 'MCPC5006', message: 'device {device} is not available: {reason}' },
  cudaFailed: { code: 'MCPC5101', message: 'a CUDA, cuBLAS, cuDNN or NVRTC call failed: {reason}' },
  deviceOutOfMemory: { code: 'MCPC5102', message: 'out of memory on device {device}: {reason}' },
  cudaCompileFailed: { code: 'MCPC5103', message: 'NVRTC could not compile the plan\'s CUDA source: {log}' },
  computeCapability: { code: 'MCPC5104', message: 'the artifact needs compute capability {needed}; device {device} is {actual}' },
} as const;

export type DiagnosticId = keyof typeof DIAGNOSTICS;

export interface Diagnostic {
  readonly id: DiagnosticId;
  readonly code: string;
  readonly message: string;
  readonly args: Readonly<Record<string, string | number>>;
}

export function formatDiagnostic(id: DiagnosticId, args: Record<string, string | number>): string {
  return DIAGNOSTICS[id].message.replace(/\{(\w+)\}/g, (_, k: string) => (k in args ? String(args[k]) : `{${k}}`));
}

/** A user error: bad input, unsupported feature, bad flag. The CLI prints it in one line and exits 2. */
export class DiagnosticError extends Error {
  readonly diagnostic: Diagnostic;

  constructor(id: DiagnosticId, args: Record<string, string | number> = {}) {
    const message = formatDiagnostic(id, args);
    super(message);
    this.name = 'DiagnosticError';
    this.diagnostic = { id, code: DIAGNOSTICS[id].code, message, args };
  }

  get code(): string {
    return this.diagnostic.code;
  }
}

export function diagnostic(id: DiagnosticId, args: Record<string, string | number> = {}): DiagnosticError {
  return new DiagnosticError(id, args);
}

/** Quotes a name for use inside a diagnostic. */
export function q(name: string): string {
  return `'${name}'`;
}
