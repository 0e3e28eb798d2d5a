// (op family: contraction)
export {};
