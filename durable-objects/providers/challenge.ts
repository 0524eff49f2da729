import { ChallengeAnswer } from "../../protocol/providers.ts";
import { init, verify } from "../../wasm/index.ts";

/** BLAKE3's chunk: a challenge asks for one. */
export const CHUNK_BYTES = 1024;

export function chunkCount(size: number): number {
  return Math.max(1, Math.ceil(size / CHUNK_BYTES));
}

/** A uniformly random chunk index of a `size`-byte stream, from the platform CSPRNG. */
export function randomChunk(size: number): number {
  const [hi = 0, lo = 0] = crypto.getRandomValues(new Uint32Array(2));
  // 53 random bits: the modulo bias is below 2^-20 for any stream under 8 PiB.
  const r = (hi & 0x1f_ffff) * 2 ** 32 + lo;
  return r % chunkCount(size);
}

export type Verdict =
  | { ok: true }
  | { ok: false; pending: true }
  | { ok: false; pending: false; reason: "late" | "missing" | "malformed" | "wrong_proof" };

/**
 * Judges a provider's answer to "prove chunk `chunk` of the stream whose BLAKE3 is `blake3`":
 * the answer must arrive by `sentAt + deadlineMs` and carry exactly that chunk's bytes with a
 * proof that `verify` accepts against the stored root. `fetching` is not a failure (the caller
 * decides how long fetching may take); anything else is. Never throws on a provider's input.
 */
export async function judge(
  content: { blake3: string; size: number },
  challenge: { chunk: number; sentAt: number },
  answer: unknown,
  answeredAt: number,
  deadlineMs: number,
): Promise<Verdict> {
  if (answeredAt > challenge.sentAt + deadlineMs)
    return { ok: false, pending: false, reason: "late" };
  const parsed = ChallengeAnswer.safeParse(answer);
  if (!parsed.success) return { ok: false, pending: false, reason: "malformed" };
  if (parsed.data.status === "fetching") return { ok: false, pending: true };
  if (parsed.data.status === "missing") return { ok: false, pending: false, reason: "missing" };
  await init();
  const ok = verify(
    fromHex(content.blake3),
    content.size,
    challenge.chunk,
    fromBase64(parsed.data.chunk),
    fromBase64(parsed.data.proof),
  );
  return ok ? { ok: true } : { ok: false, pending: false, reason: "wrong_proof" };
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}
