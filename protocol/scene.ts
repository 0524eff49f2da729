import { z } from "@hono/zod-openapi";

/**
 * The scene a `render` job draws. The exact meaning of every field (camera model, materials,
 * intersection rules) is fixed by the CPU reference in `client/kernels/render.ts` and written
 * down in `docs/kernels.md`, so a WGSL kernel can match it.
 *
 * Limits keep one scene small enough to ship with every task and cheap enough to trace on the
 * CPU for canaries; the job's own limits (size, samples) live in `jobs.ts`.
 */
export const MAX_SCENE_COORD = 1e6;
export const MAX_MATERIALS = 256;
export const MAX_SPHERES = 1024;
export const MAX_PLANES = 64;
export const MAX_MESHES = 64;
/** Triangles over all meshes together. */
export const MAX_TRIANGLES = 65_536;
/** Vertices over all meshes together. */
export const MAX_VERTICES = 65_536;
export const MAX_RADIANCE = 1e6;

const coord = z.number().min(-MAX_SCENE_COORD).max(MAX_SCENE_COORD);
export const Vec3Schema = z.tuple([coord, coord, coord]).openapi({ example: [0, 1, 0] });

const unit = z.number().min(0).max(1);
/** A reflectance in [0, 1] per channel, linear RGB. */
const Albedo = z.tuple([unit, unit, unit]);
const radiance = z.number().min(0).max(MAX_RADIANCE);
/** Emitted radiance, linear RGB, not clamped to 1 (light sources are brighter than white). */
const Radiance = z.tuple([radiance, radiance, radiance]);

export const Camera = z
  .object({
    position: Vec3Schema,
    look_at: Vec3Schema,
    up: Vec3Schema.default([0, 1, 0]),
    vfov: z
      .number()
      .gt(0)
      .lt(180)
      .default(45)
      .openapi({ description: "Vertical field of view, degrees" }),
  })
  .openapi("RenderCamera");

export const Material = z
  .discriminatedUnion("type", [
    z.object({ type: z.literal("diffuse"), albedo: Albedo }),
    z.object({
      type: z.literal("metal"),
      albedo: Albedo,
      fuzz: unit.default(0).openapi({ description: "0 is a mirror" }),
    }),
    z.object({ type: z.literal("glass"), ior: z.number().min(1).max(4).default(1.5) }),
    z.object({ type: z.literal("emissive"), radiance: Radiance }),
  ])
  .openapi("RenderMaterial");

const materialIndex = z.number().int().min(0).openapi({ description: "Index into `materials`" });

export const Sphere = z
  .object({
    center: Vec3Schema,
    radius: z.number().gt(0).max(MAX_SCENE_COORD),
    material: materialIndex,
  })
  .openapi("RenderSphere");

export const Plane = z
  .object({
    point: Vec3Schema,
    normal: Vec3Schema.openapi({ description: "Need not be unit length; must not be zero" }),
    material: materialIndex,
  })
  .openapi("RenderPlane");

export const Mesh = z
  .object({
    positions: z.array(Vec3Schema).min(3).max(MAX_VERTICES),
    triangles: z
      .array(z.tuple([z.number().int().min(0), z.number().int().min(0), z.number().int().min(0)]))
      .min(1)
      .max(MAX_TRIANGLES)
      .openapi({ description: "Vertex indices into `positions`, three per triangle" }),
    material: materialIndex,
  })
  .openapi("RenderMesh");

export const Sky = z
  .object({
    top: Radiance.openapi({ description: "Radiance seen looking straight up (+y)" }),
    bottom: Radiance.openapi({ description: "Radiance seen looking straight down (-y)" }),
  })
  .openapi("RenderSky");

/** Squared length under which a direction counts as zero (normals, camera axes). */
const TINY = 1e-12;

export const Scene = z
  .object({
    camera: Camera,
    sky: Sky,
    materials: z.array(Material).min(1).max(MAX_MATERIALS),
    spheres: z.array(Sphere).max(MAX_SPHERES).default([]),
    planes: z.array(Plane).max(MAX_PLANES).default([]),
    meshes: z.array(Mesh).max(MAX_MESHES).default([]),
  })
  .superRefine((scene, ctx) => {
    const materials = scene.materials.length;
    const badMaterial = (path: (string | number)[], m: number) => {
      if (m >= materials)
        ctx.addIssue({
          code: "custom",
          path: [...path, "material"],
          message: `material ${m} does not exist (the scene has ${materials})`,
        });
    };
    scene.spheres.forEach((s, i) => {
      badMaterial(["spheres", i], s.material);
    });
    scene.planes.forEach((p, i) => {
      badMaterial(["planes", i], p.material);
      if (dot(p.normal, p.normal) < TINY)
        ctx.addIssue({ code: "custom", path: ["planes", i, "normal"], message: "normal is zero" });
    });
    let triangles = 0;
    let vertices = 0;
    scene.meshes.forEach((mesh, i) => {
      badMaterial(["meshes", i], mesh.material);
      triangles += mesh.triangles.length;
      vertices += mesh.positions.length;
      mesh.triangles.forEach((t, j) => {
        if (t.some((v) => v >= mesh.positions.length))
          ctx.addIssue({
            code: "custom",
            path: ["meshes", i, "triangles", j],
            message: `vertex index out of range (the mesh has ${mesh.positions.length})`,
          });
      });
    });
    if (triangles > MAX_TRIANGLES)
      ctx.addIssue({
        code: "custom",
        path: ["meshes"],
        message: `${triangles} triangles; at most ${MAX_TRIANGLES} per scene`,
      });
    if (vertices > MAX_VERTICES)
      ctx.addIssue({
        code: "custom",
        path: ["meshes"],
        message: `${vertices} vertices; at most ${MAX_VERTICES} per scene`,
      });
    const { position, look_at, up } = scene.camera;
    const forward = sub(look_at, position);
    if (dot(forward, forward) < TINY)
      ctx.addIssue({
        code: "custom",
        path: ["camera", "look_at"],
        message: "look_at equals position: the camera has no direction",
      });
    else {
      const side = cross(forward, up);
      if (dot(side, side) < TINY * dot(forward, forward) * Math.max(dot(up, up), TINY))
        ctx.addIssue({
          code: "custom",
          path: ["camera", "up"],
          message: "up is zero or parallel to the viewing direction",
        });
    }
  })
  .openapi("RenderScene");

export type Scene = z.output<typeof Scene>;
export type Material = z.output<typeof Material>;
type V = readonly [number, number, number];

function dot(a: V, b: V): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
function sub(a: V, b: V): V {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
function cross(a: V, b: V): V {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Triangles over all meshes: the render cost model counts them. */
export function triangleCount(scene: Scene): number {
  return scene.meshes.reduce((n, m) => n + m.triangles.length, 0);
}
