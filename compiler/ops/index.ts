// Registers every op family. Import this module once before using the op registry.

import './elementwise.js';
import './elementwise-math.js';
import './elementwise-cast.js';
import './movement.js';
import './reduction.js';
import './normalization.js';
import './contraction.js';
import './pooling.js';
import './channels-last.js';
import './indexing.js';
import './generation.js';
import './resize.js';
import './attention.js';
import './loss.js';
import './recurrent.js';
import './signal.js';
import './sampling.js';
import './quantized.js';
import './math-extra.js';

export { allOps, getOp } from '../ir/ops.js';
