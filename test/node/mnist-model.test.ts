import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { decodeInference, runInference } from "../../client/kernels/inference.ts";
import { planTasks, taskCount, workUnits } from "../../client/kernels/plan.ts";
import { FileImporter } from "../../durable-objects/storage/unixfs-import.ts";
import { DenseLayer, JobSpec } from "../../protocol/jobs.ts";
import { buildModel, HELD_OUT_PER_DIGIT, PIXELS } from "../../scripts/train-mnist.ts";

/**
 * The example model in `examples/mnist/` (made by `scripts/train-mnist.ts`): its README states a
 * held-out accuracy, and these tests hold it to that figure by running the CPU reference exactly
 * as contributors run it, check that the held-out digits are ones the script never trained on,
 * and that the README's job spec is this model.
 */

/** The least held-out accuracy the README promises; the model measures 96.9%. */
const ACCURACY_FLOOR = 0.95;

const dir = new URL("../../examples/mnist/", import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, dir)));
const readText = (name: string) => new TextDecoder().decode(read(name));

const Score = z.object({
  correct: z.number().int(),
  rows: z.number().int(),
  accuracy: z.number(),
});
const ModelJson = z.object({
  input: z.object({ cols: z.literal(PIXELS), scale: z.number(), zero_point: z.number().int() }),
  layers: z
    .array(
      DenseLayer.omit({ weights: true, biases: true }).extend({
        weights_file: z.string(),
        biases_file: z.string(),
      }),
    )
    .min(1),
  held_out: z.object({ digits_file: z.string(), labels_file: z.string(), rows: z.number().int() }),
  accuracy: z.object({ float_held_out: Score, int8_held_out: Score }),
});
const model = ModelJson.parse(JSON.parse(readText("model.json")));
/** One class of the `mnist` package: its digits' pixels in [0, 1], 784 a digit, concatenated. */
const DigitFile = z.object({
  data: z
    .array(z.number().min(0).max(1))
    .refine((d) => d.length % PIXELS === 0, `not whole ${PIXELS}-pixel digits`),
});
const packageFile = createRequire(import.meta.url);

/** The CID `POST /v1/uploads` answers for these bytes (the same importer stores them). */
async function uploadCid(bytes: Uint8Array): Promise<string> {
  const importer = new FileImporter(async () => {});
  await importer.write(bytes);
  return (await importer.close()).cid.toString();
}

/** The job spec that runs the model over the held-out digits, with the blobs' real CIDs. */
async function heldOutJob() {
  return JobSpec.parse({
    kind: "inference",
    input: {
      cid: await uploadCid(read(model.held_out.digits_file)),
      rows: model.held_out.rows,
      cols: model.input.cols,
      zero_point: model.input.zero_point,
    },
    layers: await Promise.all(
      model.layers.map(async ({ weights_file, biases_file, ...layer }) => ({
        ...layer,
        weights: await uploadCid(read(weights_file)),
        biases: await uploadCid(read(biases_file)),
      })),
    ),
  });
}

/** Predicted digit per row: the first of the highest int8 logits. */
function predictions(logits: Int8Array, classes: number): number[] {
  return Array.from({ length: logits.length / classes }, (_, r) => {
    const row = Array.from(logits.subarray(r * classes, (r + 1) * classes));
    return row.indexOf(Math.max(...row));
  });
}

describe("examples/mnist: the int8 digit classifier", () => {
  it("scores exactly the held-out accuracy model.json states, and at least the floor, on the CPU reference", async () => {
    const spec = await heldOutJob();
    if (spec.kind !== "inference") throw new Error("not an inference spec");
    const blobs = model.layers.map((l) => ({
      weights: read(l.weights_file),
      biases: read(l.biases_file),
    }));
    const { input, layers } = decodeInference(spec, read(model.held_out.digits_file), blobs);
    // Task by task, as the network splits the job; the job's result is the tasks' concatenation.
    const outputs = planTasks(spec, "job_mnistexample0000000").map((task) => {
      if (task.kind !== "inference") throw new Error("not an inference task");
      return runInference(layers, input, task.rows);
    });
    const logits = new Int8Array(outputs.reduce((n, o) => n + o.length, 0));
    let at = 0;
    for (const o of outputs) {
      logits.set(o, at);
      at += o.length;
    }
    const classes = model.layers[model.layers.length - 1]?.outputs ?? 0;
    expect(classes).toBe(10);
    expect(logits.length).toBe(model.held_out.rows * classes);

    const labels = read(model.held_out.labels_file);
    const correct = predictions(logits, classes).filter((p, r) => p === labels[r]).length;
    expect(correct).toBe(model.accuracy.int8_held_out.correct);
    expect(correct / labels.length).toBe(model.accuracy.int8_held_out.accuracy);
    expect(correct / labels.length).toBeGreaterThanOrEqual(ACCURACY_FLOOR);
    // The project README states the same figure.
    const percent = `${((100 * correct) / labels.length).toFixed(1)}%`;
    const projectReadme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(projectReadme).toContain(`${percent} of ${labels.length} held-out digits`);
  });

  it("holds out the last 100 digits of each class in the mnist package, none of which is a training digit", () => {
    // Straight from the package's data files, not through the script: each of its 10 000 digits
    // as the int8 row model.json's input encoding gives it (round(255·p) − 128).
    const source = new Map<string, { label: number; index: number; heldOut: boolean }>();
    for (let label = 0; label < 10; label++) {
      const file = packageFile.resolve(`mnist/src/digits/${label}.json`);
      const { data } = DigitFile.parse(JSON.parse(readFileSync(file, "utf8")));
      const length = data.length / PIXELS;
      for (let index = 0; index < length; index++) {
        const pixels = data.slice(index * PIXELS, (index + 1) * PIXELS);
        const row = Int8Array.from(pixels, (p) => Math.round(255 * p) - 128);
        const heldOut = index >= length - HELD_OUT_PER_DIGIT;
        source.set(Buffer.from(row.buffer).toString("base64"), { label, index, heldOut });
      }
    }
    expect(source.size).toBe(10_000); // no two digits alike, so a match names one digit

    const digits = read(model.held_out.digits_file);
    const labels = read(model.held_out.labels_file);
    expect(labels.length).toBe(10 * HELD_OUT_PER_DIGIT);
    expect(digits.length).toBe(labels.length * PIXELS);
    const seen = new Set<string>();
    for (let r = 0; r < labels.length; r++) {
      const key = Buffer.from(digits.subarray(r * PIXELS, (r + 1) * PIXELS)).toString("base64");
      const from = source.get(key);
      expect(from, `held-out row ${r} is a digit of the package`).toBeDefined();
      expect(from?.heldOut, `held-out row ${r} is outside the training split`).toBe(true);
      expect(from?.label).toBe(labels[r]);
      seen.add(key);
    }
    expect(seen.size).toBe(labels.length); // each held-out digit once
  });

  it("is the job the README submits: its JSON parses as a JobSpec naming these files' CIDs", async () => {
    const readme = readText("README.md");
    const json = /```json\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(json, "README.md has a ```json job spec").toBeDefined();
    const spec = await heldOutJob();
    expect(JobSpec.parse(JSON.parse(json ?? "null"))).toEqual(spec);
    expect(workUnits(spec)).toBe(102);
    expect(taskCount(spec)).toBe(1);
    for (const name of readdirSync(dir).filter((f) => f !== "README.md" && !f.startsWith(".")))
      expect(readme, `README.md states ${name}'s CID`).toContain(await uploadCid(read(name)));
  });

  it("is what scripts/train-mnist.ts makes, byte for byte, in under 1 MB", () => {
    const { files } = buildModel();
    const committed = readdirSync(dir).filter((f) => f !== "README.md" && !f.startsWith("."));
    expect([...files.keys()].sort()).toEqual(committed.sort());
    for (const [name, bytes] of files) expect(Buffer.compare(bytes, read(name)), name).toBe(0);
    expect(committed.reduce((n, f) => n + read(f).length, 0)).toBeLessThan(1_000_000);
  });
});
