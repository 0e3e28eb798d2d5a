// Registers every op family. Import this module once before using the op registry.

import './elementwise.js';
import './movement.js';
import './reduction.js';
import './normalization.js';
import './contraction.js';
import './pooling.js';
import './indexing.js';
import './generation.js';

export { allOps, getOp } from '../ir/ops.js';
