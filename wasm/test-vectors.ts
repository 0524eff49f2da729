// The official BLAKE3 test vectors (shared/data beside the repository), typed, for the Node and
// workerd suites. A JSON import works in both (Vite inlines it), unlike reading the file.
import vectors from "../../shared/data/blake3-test-vectors.json";

export interface VectorCase {
  input_len: number;
  hash: string;
  keyed_hash: string;
  derive_key: string;
}

export const VECTOR_KEY = new TextEncoder().encode(vectors.key);
export const VECTOR_CONTEXT: string = vectors.context_string;
export const VECTOR_CASES: VectorCase[] = vectors.cases;

/** The vectors' input: byte i is i mod 251. */
export function vectorInput(length: number): Uint8Array {
  const input = new Uint8Array(length);
  for (let i = 0; i < length; i++) input[i] = i % 251;
  return input;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
