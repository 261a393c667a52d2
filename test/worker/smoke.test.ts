import { describe, expect, it } from "vitest";
import { api, postEvent, tenantWithKeys, event } from "./helpers";

describe("smoke", () => {
  it("appends and lists", async () => {
    const { tenant, appendKey, readKey } = await tenantWithKeys();
    const res = await postEvent(tenant, appendKey, event());
    expect(res.status, await res.clone().text()).toBe(201);
    const list = await api(`/v1/tenants/${tenant}/events`, { headers: { "x-api-key": readKey } });
    expect(list.status, await list.clone().text()).toBe(200);
    console.log(await list.text());
  });
});
