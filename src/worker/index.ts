import { app } from "./app";

export { LogAudit } from "../durable/log-audit";
export { TenantLog } from "../durable/tenant-log";

export default app satisfies ExportedHandler<Env>;
