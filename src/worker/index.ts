import { app } from "./app";
import { useNativeSha256 } from "../runtime/native-sha256";

// Every hash in this isolate (the Worker, TenantLog, LogAudit) uses the runtime's SHA-256.
useNativeSha256();

export { Batcher } from "../durable/batcher";
export { LogAudit } from "../durable/log-audit";
export { LogStreams } from "../durable/log-streams";
export { TenantLog } from "../durable/tenant-log";

export default app satisfies ExportedHandler<Env>;
