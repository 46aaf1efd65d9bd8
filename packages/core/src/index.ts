export { CutoverError, isCutoverError } from "./errors.js";
