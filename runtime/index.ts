// The runtime's public API (the package root export): load an artifact, run it, read outputs.

export { Session, cudaDevices, type SessionOptions, type RunOptions, type TensorInfo } from './session.js';
export { DeviceTensor } from './device-tensor.js';
export { Tensor, DTYPES, type TensorDType, type TensorData, type OrtTensorType } from './tensor.js';
export { type Feeds, type FeedTensor } from './feeds.js';
export { RuntimeError, RUNTIME_CODES } from './errors.js';
export { ArtifactError, ARTIFACT_CODES, readArtifact, readArtifactFile, type Artifact } from './artifact-reader.js';
export { loadNativeAddon, type NativeAddon, type CudaDeviceInfo } from './native-addon.js';
