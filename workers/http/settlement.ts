import qrcode from "qrcode-generator";
import type { IntentOutcome } from "../../durable-objects/treasury/treasury.ts";
import { SETTLEMENT_NOT_CONFIGURED } from "../../protocol/billing.ts";
import { config } from "../config.ts";
import type { Env } from "../env.ts";
import { ApiError } from "./problem.ts";

/** The one Treasury object. */
export function treasuryStub(env: Env) {
  return env.TREASURY.get(env.TREASURY.idFromName("treasury"));
}

/** Refuses with 503 `billing_not_configured`, saying what to set, unless settlement is on. */
export function requireSettlement(env: Env): void {
  if (!config(env).solana) throw new ApiError("billing_not_configured", SETTLEMENT_NOT_CONFIGURED);
}

/**
 * A Solana Pay URL as an SVG QR code (qrcode-generator: plain JS, runs in workerd). Error
 * correction M, as wallets' scanners expect; type 0 picks the smallest version that fits.
 */
export function qrSvg(url: string): string {
  const qr = qrcode(0, "M");
  qr.addData(url, "Byte");
  qr.make();
  return qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
}

/** The answer to a new deposit or stake intent: the intent, where to pay, and the QR code. */
export function newIntentBody(outcome: IntentOutcome) {
  if (!outcome.ok) throw new ApiError(outcome.code, outcome.detail);
  return {
    ...outcome.intent,
    recipient: outcome.recipient,
    mint: outcome.mint,
    qr_svg: qrSvg(outcome.intent.request.url),
  };
}
