// (op family: generation)
export {};
