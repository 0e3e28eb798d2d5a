// (op family: normalization)
export {};
