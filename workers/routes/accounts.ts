import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { AccountView, CreateAccountBody, CreateAccountResponse } from "../../protocol/accounts.ts";
import { sha256 } from "../../protocol/digest.ts";
import { type AccountId, base32, newAccountId } from "../../protocol/ids.ts";
import { config } from "../config.ts";
import { accountStub, authenticate } from "../http/auth.ts";
import { idempotencyKey, runIdempotent } from "../http/idempotency.ts";
import { jsonBody } from "../http/json.ts";
import {
  AUTHENTICATED_PROBLEMS,
  IDEMPOTENCY_PROBLEMS,
  IdempotencyKeyHeader,
  JSON_BODY_PROBLEMS,
  json,
  jsonRequest,
  problemResponses,
  SECURITY,
} from "../http/openapi.ts";
import { isOperator } from "../http/operator.ts";
import { ApiError } from "../http/problem.ts";
import { treasuryStub } from "../http/settlement.ts";
import type { AppEnv } from "../http/types.ts";

export const accounts = new OpenAPIHono<AppEnv>();

/** A UUID is 36 characters; anything shorter is too easy to guess for a response holding a key. */
const MIN_SIGNUP_KEY_LENGTH = 32;

const signup = createRoute({
  method: "post",
  path: "/v1/accounts",
  tags: ["Accounts"],
  summary: "Create an account",
  description:
    "Creates an account with a trial credit and returns its first API key (every scope). Open to anyone when open signup is on; otherwise send the operator's admin token as a bearer token.",
  middleware: [jsonBody] as const,
  request: { headers: IdempotencyKeyHeader, body: jsonRequest(CreateAccountBody) },
  responses: {
    201: json(CreateAccountResponse, "The account and its first API key (shown once)"),
    ...problemResponses("signup_closed", ...JSON_BODY_PROBLEMS, ...IDEMPOTENCY_PROBLEMS),
  },
});

accounts.openapi(signup, async (c) => {
  const settings = config(c.env);
  if (
    !settings.openSignup &&
    !(await isOperator(c.req.header("authorization"), settings.adminToken))
  ) {
    throw new ApiError("signup_closed", "Open signup is off; ask the operator for an account.");
  }
  const body = c.req.valid("json");
  const key = idempotencyKey(c);
  if (key !== undefined && key.length < MIN_SIGNUP_KEY_LENGTH) {
    // Replaying a signup returns its API key, so the key itself must be unguessable.
    throw new ApiError(
      "idempotency_key_invalid",
      `For signup, Idempotency-Key must be a random value of at least ${MIN_SIGNUP_KEY_LENGTH} characters, such as a UUID.`,
    );
  }
  // With an Idempotency-Key the account id is derived from it, so a retried signup lands on the
  // same Account object, which holds the stored response; without one, a fresh random id.
  const accountId = key ? await accountIdFor(key) : newAccountId();
  const account = accountStub(c.env, accountId);
  // Filed for the ledger proof before the account exists, so a crash in between leaves a known
  // empty account rather than an unknown funded one (idempotent).
  await treasuryStub(c.env).registerAccount(accountId);
  // The stored response is replayed byte for byte, so the typed response becomes a plain one.
  const response = await runIdempotent(c, account, key, async () => {
    const opened = await account.open({
      accountId,
      name: body.name,
      email: body.email,
      trialCredit: settings.trialCredit,
    });
    if (!opened.ok) {
      throw new ApiError(
        "idempotency_key_reused",
        "An account was already created with this Idempotency-Key.",
      );
    }
    return c.json({ account_id: accountId, api_key: opened.api_key, key: opened.key }, 201);
  });
  return response as never;
});

const getAccount = createRoute({
  method: "get",
  path: "/v1/account",
  tags: ["Accounts"],
  summary: "The calling key's account and balances",
  security: SECURITY,
  middleware: [authenticate] as const,
  responses: {
    200: json(AccountView, "The account"),
    ...problemResponses(...AUTHENTICATED_PROBLEMS),
  },
});

accounts.openapi(getAccount, async (c) => {
  const view = await c.var.account.view();
  if (!view) throw new ApiError("unauthenticated", "The account no longer exists.");
  return c.json(view, 200);
});

async function accountIdFor(idempotencyKey: string): Promise<AccountId> {
  const digest = await sha256(`tessera signup\n${idempotencyKey}`);
  return `acct_${base32(digest).slice(0, 20)}` as AccountId;
}
