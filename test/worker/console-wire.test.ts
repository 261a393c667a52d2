/**
 * The console's wire types (src/console/wire.ts) against the types of the server's answers:
 * the /v1 sub-apps' Hono schemas (what each route's c.json returns, as JSON) and better-auth's
 * API (its return types, as JSON). Every server answer must be assignable to the console's type
 * of it, so a field the console reads and the server does not send (or sends with another type)
 * fails `npm run typecheck`. The checks are types only: at run time this file asserts nothing.
 */
import type { Hono } from "hono";
import type { JSONParsed } from "hono/utils/types";
import { describe, expectTypeOf, it } from "vitest";
import type * as Wire from "../../src/console/wire";
import type { Auth } from "../../src/worker/auth-config";
import type { Event } from "../../src/worker/event-schema";
import type { events } from "../../src/worker/routes/events";
import type { holds } from "../../src/worker/routes/holds";
import type { schemas } from "../../src/worker/routes/schemas";
import type { keys } from "../../src/worker/routes/keys";
import type { proofs } from "../../src/worker/routes/proofs";
import type { settings } from "../../src/worker/routes/settings";
import type { snapshots } from "../../src/worker/routes/snapshots";
import type { sources } from "../../src/worker/routes/sources";
import type { streams } from "../../src/worker/routes/streams";
import type { subjects } from "../../src/worker/routes/subjects";
import type { verifierKeys } from "../../src/worker/routes/verifier-keys";
import type { verification } from "../../src/worker/routes/verify";

/** A sub-app's routes and their types (`any`: whatever its environment and base path). */
// biome-ignore lint/suspicious/noExplicitAny: matches any environment and base path, as Hono's own helpers do
type SchemaOf<App> = App extends Hono<any, infer S, any> ? S : never;
/**
 * The JSON a sub-app's route answers with (paths relative to where app.ts mounts it). A route
 * that is not found is an object no wire type accepts, so a check never passes for lack of one.
 */
type Answer<App, Path extends keyof SchemaOf<App>, Method extends string> = [SchemaOf<App>[Path]] extends [never]
  ? { route_not_found: [Path, Method] }
  : SchemaOf<App>[Path] extends Record<Method, { output: infer O }>
    ? O
    : { route_not_found: [Path, Method] };
/** What better-auth's endpoint `K` returns, as JSON (dates become strings). */
type AuthAnswer<K extends keyof Auth["api"]> = JSONParsed<Awaited<ReturnType<Auth["api"][K]>>>;
/** An entry as the API serves it, but for the client's event (checked against the event schema). */
type EntryFrame<T> = Omit<T, "event">;

describe("the console's wire types match the server's answers", () => {
  it("/v1 routes", () => {
    expectTypeOf<Answer<typeof events, "/", "$get">>().toExtend<Omit<Wire.EventPage, "events">>();
    expectTypeOf<EntryFrame<Answer<typeof events, "/", "$get">["events"][number]>>().toExtend<EntryFrame<Wire.EntryView>>();
    expectTypeOf<EntryFrame<Answer<typeof events, "/:seq{[0-9]+}", "$get">>>().toExtend<EntryFrame<Wire.EntryView>>();
    // The event inside an entry is the one the event schema accepted (the API types it as any JSON).
    expectTypeOf<Event>().toExtend<Wire.EventView>();
    expectTypeOf<Answer<typeof proofs, "/proof/inclusion", "$get">>().toExtend<Wire.ProofHashes>();
    expectTypeOf<Answer<typeof proofs, "/proof/consistency", "$get">>().toExtend<Wire.ProofHashes>();
    expectTypeOf<Answer<typeof settings, "/stats", "$get">>().toExtend<Wire.Stats>();
    expectTypeOf<Answer<typeof settings, "/stats/activity", "$get">>().toExtend<Wire.Activity>();
    expectTypeOf<Answer<typeof settings, "/settings", "$get">>().toExtend<Wire.Settings>();
    expectTypeOf<Answer<typeof settings, "/settings", "$get">>().toExtend<Wire.PersonalSettings>();
    expectTypeOf<Answer<typeof subjects, "/subjects/:subject/erase", "$post">>().toExtend<Wire.SubjectErased>();
    expectTypeOf<Answer<typeof settings, "/settings", "$put">>().toExtend<Wire.SettingsChanged>();
    expectTypeOf<Answer<typeof sources, "/sources", "$get">>().toExtend<Wire.SourceList>();
    expectTypeOf<Answer<typeof sources, "/sources/:id", "$put">>().toExtend<Wire.SourceChanged>();
    expectTypeOf<Answer<typeof sources, "/stats/lag", "$get">>().toExtend<Wire.LagSamples>();
    expectTypeOf<Answer<typeof verification, "/verify", "$get">>().toExtend<Wire.ReportList>();
    expectTypeOf<Answer<typeof verification, "/verify", "$post">>().toExtend<Wire.Job>();
    expectTypeOf<Answer<typeof verification, "/verify/:job", "$get">>().toExtend<Wire.Job>();
    expectTypeOf<Answer<typeof snapshots, "/snapshots", "$get">>().toExtend<Wire.SnapshotPage>();
    expectTypeOf<Answer<typeof verifierKeys, "/", "$get">>().toExtend<Wire.VerifierKeys>();
    expectTypeOf<Answer<typeof keys, "/", "$get">>().toExtend<Wire.KeyList>();
    expectTypeOf<Answer<typeof keys, "/", "$post">>().toExtend<Wire.CreatedKey>();
    expectTypeOf<Answer<typeof holds, "/holds", "$get">>().toExtend<Wire.HoldList>();
    expectTypeOf<Answer<typeof holds, "/holds", "$post">>().toExtend<Wire.HoldChanged>();
    expectTypeOf<Answer<typeof holds, "/holds/:id/release", "$post">>().toExtend<Wire.HoldChanged>();
    expectTypeOf<Answer<typeof streams, "/", "$get">>().toExtend<Wire.StreamList>();
    expectTypeOf<Answer<typeof streams, "/", "$post">>().toExtend<Wire.CreatedStream>();
    expectTypeOf<Answer<typeof schemas, "/schemas", "$get">>().toExtend<Wire.EventSchemaList>();
    expectTypeOf<Answer<typeof schemas, "/schemas/:action", "$get">>().toExtend<Wire.EventSchema>();
    expectTypeOf<Answer<typeof schemas, "/schemas/:action", "$put">>().toExtend<Wire.EventSchemaChanged>();
  });

  it("better-auth routes", () => {
    expectTypeOf<NonNullable<AuthAnswer<"getSession">>>().toExtend<Wire.Session>();
    expectTypeOf<AuthAnswer<"listOrganizations">>().toExtend<Wire.Org[]>();
    expectTypeOf<AuthAnswer<"createOrganization">>().toExtend<Wire.Org>();
    expectTypeOf<AuthAnswer<"getInvitation">>().toExtend<Wire.Invitation>();
    expectTypeOf<AuthAnswer<"listMembers">>().toExtend<Wire.MemberList>();
    expectTypeOf<AuthAnswer<"listInvitations">>().toExtend<Wire.InvitationRow[]>();
    // The link's secret is added to better-auth's answer by the Worker (membership-log.ts).
    expectTypeOf<AuthAnswer<"createInvitation">>().toExtend<Omit<Wire.Invited, "secret">>();
  });
});
