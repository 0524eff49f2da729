import { describe, expect, it } from "vitest";
import { assembleTiles, toRgba8 } from "./image.ts";
import { crc32, encodePng } from "./png.ts";

/** A tiny PNG reader for what encodePng writes: checks chunk CRCs, inflates IDAT, unfilters type 0. */
async function decodePng(png: Uint8Array) {
  expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.length);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    expect(view.getUint32(at + 8 + length), `${type} CRC`).toBe(
      crc32(png.subarray(at + 4, at + 8 + length)),
    );
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(chunks.map((c) => c.type)).toEqual(["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(
    chunks[0]?.data.buffer ?? new ArrayBuffer(0),
    chunks[0]?.data.byteOffset,
    13,
  );
  const width = ihdr.getUint32(0);
  const height = ihdr.getUint32(4);
  expect(Array.from(chunks[0]?.data.subarray(8) ?? [])).toEqual([8, 6, 0, 0, 0]);
  const idat = chunks[1]?.data ?? new Uint8Array(0);
  const stream = new Blob([idat as Uint8Array<ArrayBuffer>])
    .stream()
    .pipeThrough(new DecompressionStream("deflate"));
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  expect(raw.length).toBe(height * (width * 4 + 1));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba };
}

describe("encodePng", () => {
  it("writes a PNG that decodes to the same pixels", async () => {
    const width = 37;
    const height = 5;
    const rgba = Uint8Array.from({ length: width * height * 4 }, (_, i) => (i * 31) & 255);
    const decoded = await decodePng(await encodePng(width, height, rgba));
    expect(decoded).toEqual({ width, height, rgba });
  });

  it("uses the standard CRC-32", () => {
    expect(crc32(new TextEncoder().encode("IEND"))).toBe(0xae426082);
  });

  it("refuses a buffer of the wrong size", async () => {
    await expect(encodePng(2, 2, new Uint8Array(15))).rejects.toThrow(RangeError);
  });
});

describe("toRgba8", () => {
  it("clamps and applies the sRGB transfer function", () => {
    const out = toRgba8(Float32Array.from([0, 1, 2, 0.5, 0.0031308, -1, Number.NaN, 0.05, 0.18]));
    expect(Array.from(out)).toEqual([0, 255, 255, 255, 188, 10, 0, 255, 0, 63, 118, 255]);
  });
});

describe("assembleTiles", () => {
  it("refuses an image with an uncovered pixel", () => {
    const part = {
      tile: { x: 0, y: 0, width: 1, height: 1 },
      samples: { count: 1 },
      pixels: new Float32Array(3),
    };
    expect(() => assembleTiles(2, 1, [part])).toThrow(/pixel 1,0 has no samples/);
  });
});
