import { describe, expect, it } from "vitest";
import { canonicalize, type JsonValue } from "../../src/core/jcs";
import { loadVectors } from "./vectors";

interface JcsVector {
  desc: string;
  input: string;
  want: string | null;
  wantErr: boolean;
}

describe("RFC 8785 canonical JSON", () => {
  for (const [file, v] of loadVectors<JcsVector>("jcs")) {
    it(`${v.desc} (${file})`, () => {
      const run = () => canonicalize(JSON.parse(v.input) as JsonValue);
      if (v.wantErr) expect(run).toThrow();
      else expect(run()).toBe(v.want);
    });
  }
});
