// (op family: movement)
export {};
