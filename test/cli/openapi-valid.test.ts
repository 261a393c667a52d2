import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";

// The document is built from the Worker's own route modules, which type-check against the
// Workers runtime (tsconfig.json), not Node's (tsconfig.node.json): imported at run time only.
const OPENAPI_MODULE = "../../src/worker/openapi";

describe("OpenAPI document", () => {
  it("validates against the OpenAPI 3.1 schema", async () => {
    const { openApiDocument } = (await import(OPENAPI_MODULE)) as { openApiDocument: (serverUrl: string) => object };
    const validator = new Validator();
    const result = await validator.validate(openApiDocument("http://127.0.0.1:8787") as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });
});
