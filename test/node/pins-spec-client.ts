import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import { parse } from "yaml";

/**
 * A Pinning Service API client built only from the spec (test/fixtures/ipfs-pinning-service.yaml,
 * copied from ipfs/pinning-services-api-spec v1.0.0): each call is named by its `operationId`;
 * the method, path and query serialization (`style: form, explode: false` for arrays, JSON for
 * `content: application/json` parameters) come from the document, and every response is
 * validated against the schema the spec gives for its status (`4XX`/`5XX` ranges included).
 */
interface Param {
  name: string;
  in: string;
  schema?: { type?: string };
  style?: string;
  explode?: boolean;
  content?: Record<string, unknown>;
}
interface Operation {
  operationId: string;
  parameters?: ({ $ref: string } | Param)[];
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: object }> }>;
}
type Spec = {
  paths: Record<string, Record<string, Operation | unknown>>;
  components: Record<string, Record<string, unknown>>;
};

/**
 * Two of the spec's descriptions (`info` and the security scheme) are quoted scalars whose lines
 * start in column 0, which strict YAML parsers (yaml, js-yaml) refuse; they are prose only, so
 * they are replaced by a placeholder before parsing. Nothing else is touched.
 */
function loadSpec(): Spec {
  const text = readFileSync(
    new URL("../fixtures/ipfs-pinning-service.yaml", import.meta.url),
    "utf8",
  );
  const cut = text.replace(/^( +)description: "\n[\s\S]*?\n"\n/gm, "$1description: prose\n");
  return parse(cut) as Spec;
}

const spec = loadSpec();

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat(
  "date-time",
  (s: string) => /^\d{4}-\d\d-\d\dT/.test(s) && !Number.isNaN(Date.parse(s)),
);
ajv.addFormat("int32", {
  type: "number",
  validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
});
ajv.addSchema({ ...spec, $id: "spec" });

function resolve<T>(node: T | { $ref: string }): T {
  if (node && typeof node === "object" && "$ref" in node) {
    const path = node.$ref.replace(/^#\//, "").split("/");
    let at: unknown = spec;
    for (const p of path) at = (at as Record<string, unknown>)[p];
    return at as T;
  }
  return node as T;
}

function operation(id: string): { method: string; path: string; op: Operation } {
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if ((op as Operation).operationId === id) return { method, path, op: op as Operation };
    }
  }
  throw new Error(`no operation ${id} in the spec`);
}

export const OPERATIONS = Object.values(spec.paths).flatMap((item) =>
  Object.values(item)
    .filter((op): op is Operation => typeof op === "object" && op !== null && "operationId" in op)
    .map((op) => op.operationId),
);

export interface SpecResponse {
  status: number;
  body: unknown;
  /** Which of the spec's responses matched (e.g. "200", "4XX"). */
  matched: string;
}

export function specClient(base: string, token?: string) {
  return async function call(
    operationId: string,
    input: {
      requestid?: string;
      query?: Record<string, string | string[] | number | Record<string, string>>;
      body?: unknown;
      token?: string | null;
    } = {},
  ): Promise<SpecResponse> {
    const { method, path, op } = operation(operationId);
    const url = new URL(
      base + path.replace("{requestid}", encodeURIComponent(input.requestid ?? "")),
    );
    const params = (op.parameters ?? []).map((p) => resolve<Param>(p));
    for (const [name, value] of Object.entries(input.query ?? {})) {
      const param = params.find((p) => p.name === name && p.in === "query");
      if (!param) throw new Error(`${operationId} has no query parameter ${name}`);
      if (param.content?.["application/json"]) url.searchParams.set(name, JSON.stringify(value));
      else if (Array.isArray(value)) {
        if (param.style !== "form" || param.explode !== false) throw new Error("unexpected style");
        url.searchParams.set(name, value.join(","));
      } else url.searchParams.set(name, String(value));
    }
    const auth = input.token === null ? undefined : (input.token ?? token);
    const res = await fetch(url, {
      method: method.toUpperCase(),
      headers: {
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        ...(input.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: input.body !== undefined ? JSON.stringify(input.body) : undefined,
    });
    const text = await res.text();
    const status = String(res.status);
    const matched =
      status in op.responses ? status : `${status[0]}XX` in op.responses ? `${status[0]}XX` : "";
    if (!matched) throw new Error(`${operationId}: status ${status} is not in the spec`);
    const response = resolve(op.responses[matched] as { $ref: string });
    const media = (response as { content?: Record<string, { schema: { $ref?: string } }> })
      .content?.["application/json"];
    let body: unknown = text;
    if (media) {
      if (!(res.headers.get("content-type") ?? "").startsWith("application/json")) {
        throw new Error(`${operationId} ${status}: not JSON: ${res.headers.get("content-type")}`);
      }
      body = JSON.parse(text);
      const ref = media.schema.$ref?.replace(/^#/, "spec#");
      const validate = ajv.getSchema(ref ?? "");
      if (!validate) throw new Error(`no schema ${ref}`);
      if (!validate(body)) {
        throw new Error(
          `${operationId} ${status} does not match ${ref}: ${ajv.errorsText(validate.errors)}\n${text}`,
        );
      }
    }
    return { status: res.status, body, matched };
  };
}
