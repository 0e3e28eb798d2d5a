// (op family: reduction)
export {};
