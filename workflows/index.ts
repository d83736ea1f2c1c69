/** Every workflow type the orchestrator worker registers (and the replay harness checks). */
export {};
