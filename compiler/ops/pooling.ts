// (op family: pooling)
export {};
