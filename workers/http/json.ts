import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { config } from "../config.ts";
import { ApiError } from "./problem.ts";
import type { AppEnv } from "./types.ts";

const JSON_MEDIA_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Guards a route that takes a JSON body: a body in any other media type is a 415 problem (instead
 * of being silently read as `{}`), and a body over `MAX_JSON_BODY_BYTES` is a 413 problem, checked
 * while streaming so a lying or missing Content-Length cannot get past it.
 */
export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const length = c.req.header("content-length");
  const hasBody = length !== undefined ? length !== "0" : c.req.raw.body !== null;
  if (hasBody) {
    const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim() ?? "";
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new ApiError(
        "unsupported_media_type",
        `Send this request body as application/json${mediaType ? `, not ${mediaType}` : ""}.`,
      );
    }
  }
  const maxSize = config(c.env).maxJsonBodyBytes;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError("payload_too_large", `JSON bodies are limited to ${maxSize} bytes.`);
    },
  })(c, next);
});
