// Re-export so toy projects outside the repo's import map can use the same zod.
export { z } from "zod";
