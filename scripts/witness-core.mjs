// The witness's key and configuration code for scripts/witness.mjs and scripts/deploy-witness.mjs:
// src/core/cosignature.ts and src/witness/config.ts themselves, bundled by esbuild at run time,
// so the scripts make and read keys exactly as the witness Worker does.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { buildSync } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const { outputFiles } = buildSync({
  stdin: {
    contents: 'export * from "./src/core/cosignature.ts";\nexport { parseLogList } from "./src/witness/config.ts";\n',
    resolveDir: root,
    loader: "ts",
  },
  bundle: true,
  write: false,
  format: "esm",
  platform: "neutral",
  logLevel: "silent",
});
const core = await import(`data:text/javascript;base64,${Buffer.from(outputFiles[0].text).toString("base64")}`);

export const KEY_TYPES = { "ml-dsa-44": core.COSIGNATURE_TYPE_ML_DSA_44, ed25519: core.COSIGNATURE_TYPE_ED25519 };

/** A fresh private key text "PRIVATE+KEY+<name>+<id>+<base64(type ‖ seed)>" (32 random bytes). */
export function newPrivateKey(name, type) {
  if (!(type in KEY_TYPES)) throw new Error(`key type must be one of ${Object.keys(KEY_TYPES).join(", ")}, not ${JSON.stringify(type)}`);
  return core.cosignerPrivateKeyText(name, KEY_TYPES[type], randomBytes(32));
}

/** The vkey of a private key text, or an Error saying why it is not one. */
export function vkeyOf(privateKey) {
  const parsed = core.parseCosignerPrivateKey(privateKey.trim());
  return parsed.ok ? parsed.value.key.vkey : new Error(`not a witness private key (${parsed.error.reason})`);
}

/** The origins WITNESS_LOGS names, or an Error saying which entry does not parse. */
export function originsOf(logs) {
  const parsed = core.parseLogList(logs);
  return parsed.ok ? [...parsed.value.keys()] : new Error(parsed.error);
}

/** Whether `name` is a valid key name (non-empty, no spaces, no "+"; ML-DSA-44 names at most 255 bytes). */
export const isValidKeyName = (name) => core.cosignerFromSeed(name, KEY_TYPES["ml-dsa-44"], new Uint8Array(32)).ok;
