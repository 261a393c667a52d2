import { app } from "./app";

export { TenantLog } from "../durable/tenant-log";

export default app satisfies ExportedHandler<Env>;
