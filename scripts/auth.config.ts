// Used only by `npm run db:auth-schema` (the better-auth CLI) to write src/db/auth-schema.ts.
import { betterAuth } from "better-auth";
import { drizzleAdapter } from "better-auth/adapters/drizzle";
import { AUTH_RATE_LIMIT, authPlugins } from "../src/worker/auth-options";

export const auth = betterAuth({
  database: drizzleAdapter({} as never, { provider: "sqlite" }),
  emailAndPassword: { enabled: true },
  rateLimit: AUTH_RATE_LIMIT,
  plugins: authPlugins(),
});
