/**
 * Starts the log-stream tests' destinations (receivers.ts) for the workerd project and hands their
 * addresses to the tests: inject("streamReceiver"), inject("streamTlsReceiver"), inject("s3Endpoint").
 */
import type { TestProject } from "vitest/node";
import { startReceiver, startS3, startWrongTlsReceiver } from "./receivers";

declare module "vitest" {
  export interface ProvidedContext {
    streamReceiver: string;
    streamTlsReceiver: string;
    s3Endpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const s3 = await startS3();
  const receiver = await startReceiver(s3.endpoint);
  const tls = await startWrongTlsReceiver();
  project.provide("streamReceiver", receiver.base);
  project.provide("streamTlsReceiver", tls.base);
  project.provide("s3Endpoint", s3.endpoint);
  return async () => {
    await new Promise<void>((resolve) => receiver.server.close(() => resolve()));
    await new Promise<void>((resolve) => tls.server.close(() => resolve()));
    tls.cleanup();
    await s3.stop();
  };
}
