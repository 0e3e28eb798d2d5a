// (op family: indexing)
export {};
