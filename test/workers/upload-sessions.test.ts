import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, bearer, expectProblem, jsonInit, signup } from "./helpers.ts";

const MiB = 1024 * 1024;

function bytes(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

async function openSession(apiKey: string, name = "big.bin") {
  const res = await api("/v1/uploads/sessions", jsonInit("POST", { name }, bearer(apiKey)));
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

function putPart(apiKey: string, id: string, n: number, body: Uint8Array<ArrayBuffer>) {
  return api(`/v1/uploads/sessions/${id}/parts/${n}`, {
    method: "PUT",
    headers: bearer(apiKey, { "content-type": "application/octet-stream" }),
    body,
  });
}

const complete = (apiKey: string, id: string) =>
  api(`/v1/uploads/sessions/${id}/complete`, { method: "POST", headers: bearer(apiKey) });

describe("resumable upload sessions", () => {
  it("joins parts sent out of order into the same CID as a single upload", async () => {
    const { apiKey } = await signup();
    const data = bytes(5 * MiB + 123, 1);
    const parts = [data.slice(0, 2 * MiB), data.slice(2 * MiB, 4 * MiB), data.slice(4 * MiB)];
    const id = await openSession(apiKey);
    for (const n of [3, 1, 2]) {
      const res = await putPart(apiKey, id, n, parts[n - 1] as Uint8Array<ArrayBuffer>);
      expect(res.status).toBe(200);
    }
    const progress = (await (
      await api(`/v1/uploads/sessions/${id}`, { headers: bearer(apiKey) })
    ).json()) as {
      received: number;
      parts: { n: number }[];
    };
    expect(progress.received).toBe(data.length);
    expect(progress.parts.map((p) => p.n)).toEqual([1, 2, 3]);

    const done = await complete(apiKey, id);
    expect(done.status).toBe(201);
    const viaSession = (await done.json()) as {
      cid: string;
      size: number;
      name: string;
      blake3: string;
    };
    expect(viaSession).toMatchObject({ size: data.length, name: "big.bin" });

    // Another account uploads the same bytes in one request: same CID and BLAKE3.
    const other = await signup();
    const single = await api("/v1/uploads", {
      method: "POST",
      headers: bearer(other.apiKey, { "content-type": "application/octet-stream" }),
      body: data,
    });
    const direct = (await single.json()) as { cid: string; blake3: string };
    expect(direct.cid).toBe(viaSession.cid);
    expect(direct.blake3).toBe(viaSession.blake3);

    // Staged parts are gone once completed.
    const staged = await env.BLOCKS.list({ prefix: "staging/" });
    expect(staged.objects.filter((o) => o.key.includes(id))).toEqual([]);
  });

  it("answers the same upload when completed twice", async () => {
    const { apiKey } = await signup();
    const id = await openSession(apiKey);
    await putPart(apiKey, id, 1, bytes(1000, 2));
    const first = await complete(apiKey, id);
    const second = await complete(apiKey, id);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual(await first.json());
  });

  it("refuses to complete with a missing part, and keeps the session usable", async () => {
    const { apiKey } = await signup();
    const id = await openSession(apiKey);
    await putPart(apiKey, id, 1, bytes(MiB, 3));
    await putPart(apiKey, id, 3, bytes(100, 4));
    const res = await complete(apiKey, id);
    const problem = await expectProblem(res, 409, "upload_parts_missing");
    expect(problem.detail).toContain("2");
    await putPart(apiKey, id, 2, bytes(MiB, 5));
    expect((await complete(apiKey, id)).status).toBe(201);
  });

  it("refuses to complete an empty session", async () => {
    const { apiKey } = await signup();
    const id = await openSession(apiKey);
    await expectProblem(await complete(apiKey, id), 409, "upload_parts_missing");
  });

  it("counts staged parts against the quota", async () => {
    // The test pool sets STORAGE_QUOTA_BYTES to 24 MiB and MAX_UPLOAD_REQUEST_BYTES to 12 MiB.
    const { apiKey } = await signup();
    const id = await openSession(apiKey);
    expect((await putPart(apiKey, id, 1, bytes(10 * MiB, 6))).status).toBe(200);
    expect((await putPart(apiKey, id, 2, bytes(10 * MiB, 7))).status).toBe(200);
    await expectProblem(
      await putPart(apiKey, id, 3, bytes(10 * MiB, 8)),
      413,
      "storage_quota_exceeded",
    );
    // Re-sending a part replaces it rather than adding to it.
    expect((await putPart(apiKey, id, 2, bytes(10 * MiB, 9))).status).toBe(200);
  });

  it("aborts a session, discarding its parts, and refuses further parts", async () => {
    const { apiKey } = await signup();
    const id = await openSession(apiKey);
    await putPart(apiKey, id, 1, bytes(1000, 10));
    const res = await api(`/v1/uploads/sessions/${id}`, {
      method: "DELETE",
      headers: bearer(apiKey),
    });
    expect(((await res.json()) as { state: string }).state).toBe("aborted");
    const staged = await env.BLOCKS.list({ prefix: "staging/" });
    expect(staged.objects.filter((o) => o.key.includes(id))).toEqual([]);
    await expectProblem(await putPart(apiKey, id, 2, bytes(10, 11)), 409, "upload_session_closed");
    await expectProblem(await complete(apiKey, id), 409, "upload_session_closed");
  });

  it("answers unknown and malformed session ids with problems", async () => {
    const { apiKey } = await signup();
    const other = await signup();
    const id = await openSession(other.apiKey);
    await expectProblem(
      await api(`/v1/uploads/sessions/${id}`, { headers: bearer(apiKey) }),
      404,
      "upload_session_not_found",
    );
    await expectProblem(
      await api("/v1/uploads/sessions/nope", { headers: bearer(apiKey) }),
      400,
      "validation_failed",
    );
    await expectProblem(
      await putPart(apiKey, "ups_aaaaaaaaaaaaaaaaaaaa", 0 as never, bytes(1, 1)),
      400,
      "validation_failed",
    );
  });
});
