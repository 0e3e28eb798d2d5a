// Elementwise and broadcast ops: unary math and activations, binary arithmetic, comparisons,
// logic, selection and casts. Each is defined by its scalar function in float64.

import { anyNumeric, defineBinary, defineUnary } from './common.js';

defineBinary('Add', (x, y) => x + y, { dtypes: anyNumeric });
defineUnary('Relu', (x) => (x > 0 ? x : 0));
