/**
 * Starts the test witness (server.ts) on a free loopback port for the workerd project, and
 * provides its base URL to the tests (`inject("witnessBase")`).
 */
import type { TestProject } from "vitest/node";
import { startWitness } from "./server";

export default async function setup(project: TestProject) {
  const secret = process.env.SEALTRAIL_SIGNING_SECRET;
  if (!secret) throw new Error("SEALTRAIL_SIGNING_SECRET is not set (vitest.config.ts sets it)");
  const { server, base } = await startWitness(secret);
  project.provide("witnessBase", base);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
