import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CLOUDFLARE_URL, CloudflareFake, LINODE_URL, LinodeFake, startFakeServer } from "@cutover/testkit/dns-fakes";

const cf = new CloudflareFake({ baseUrl: "https://cf.fake.test/client/v4" });
const li = new LinodeFake({ baseUrl: "https://linode.fake.test/v4" });
const server = startFakeServer(...cf.handlers, ...li.handlers);
afterAll(() => server.close());

const CF_AUTH = { authorization: "Bearer cf-test-token-0123456789", "content-type": "application/json" };
const LI_AUTH = { authorization: "Bearer linode-test-token-abcdef0123", "content-type": "application/json" };

describe("Cloudflare fake", () => {
  let zoneId = "";
  beforeAll(() => {
    zoneId = cf.addZone("example.com").id;
    for (let i = 0; i < 12; i++)
      cf.addRecord("example.com", { name: `h${i}`, type: "A", content: "198.51.100.10", ttl: 3600 });
    cf.addRecord("example.com", {
      name: "www",
      type: "A",
      content: "198.51.100.10",
      proxied: true,
      comment: "web",
      tags: ["env:prod"],
    });
  });
  afterEach(() => {
    cf.switches.faults = undefined;
  });
  const base = "https://cf.fake.test/client/v4";

  it("pages records with result_info and an empty page past the end", async () => {
    const r1 = (await (
      await fetch(`${base}/zones/${zoneId}/dns_records?per_page=5&page=3`, { headers: CF_AUTH })
    ).json()) as any;
    expect(r1.success).toBe(true);
    expect(r1.result).toHaveLength(3);
    expect(r1.result_info).toEqual({ page: 3, per_page: 5, count: 3, total_count: 13, total_pages: 3 });
    const r4 = (await (
      await fetch(`${base}/zones/${zoneId}/dns_records?per_page=5&page=4`, { headers: CF_AUTH })
    ).json()) as any;
    expect(r4.result).toEqual([]);
  });

  it("PATCH keeps proxied, comment and tags; PUT without proxied turns proxying off", async () => {
    const www = cf.find("example.com", "www", "A")[0]!;
    const patched = (await (
      await fetch(`${base}/zones/${zoneId}/dns_records/${www.id}`, {
        method: "PATCH",
        headers: CF_AUTH,
        body: JSON.stringify({ content: "203.0.113.20" }),
      })
    ).json()) as any;
    expect(patched.result).toMatchObject({
      content: "203.0.113.20",
      proxied: true,
      comment: "web",
      tags: ["env:prod"],
      ttl: 1,
    });
    const put = (await (
      await fetch(`${base}/zones/${zoneId}/dns_records/${www.id}`, {
        method: "PUT",
        headers: CF_AUTH,
        body: JSON.stringify({ type: "A", name: "www.example.com", content: "203.0.113.20", ttl: 300 }),
      })
    ).json()) as any;
    expect(put.result).toMatchObject({ proxied: false, comment: null, tags: [], ttl: 300 });
  });

  it("answers 81044 for an unknown record, 81057 for a duplicate, 9109 for a bad token, 10000 for a read-only token", async () => {
    const missing = await fetch(`${base}/zones/${zoneId}/dns_records/ffff`, {
      method: "PATCH",
      headers: CF_AUTH,
      body: "{}",
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as any).errors[0].code).toBe(81044);
    const dup = await fetch(`${base}/zones/${zoneId}/dns_records`, {
      method: "POST",
      headers: CF_AUTH,
      body: JSON.stringify({ type: "A", name: "h1.example.com", content: "198.51.100.10" }),
    });
    expect(((await dup.json()) as any).errors[0].code).toBe(81057);
    const bad = await fetch(`${base}/zones`, { headers: { authorization: "Bearer nope-nope" } });
    expect(bad.status).toBe(403);
    expect(((await bad.json()) as any).errors[0].code).toBe(9109);
    cf.tokens["cf-readonly-token-xyz"] = "read";
    const ro = await fetch(`${base}/zones/${zoneId}/dns_records`, {
      method: "POST",
      headers: { ...CF_AUTH, authorization: "Bearer cf-readonly-token-xyz" },
      body: JSON.stringify({ type: "A", name: "new.example.com", content: "192.0.2.1" }),
    });
    expect(((await ro.json()) as any).errors[0].code).toBe(10000);
  });

  it("applies a batch in order deletes → patches → puts → posts, and all or nothing", async () => {
    const [h2, h3] = [cf.find("example.com", "h2", "A")[0]!, cf.find("example.com", "h3", "A")[0]!];
    // The post reuses h2's content at h2's name: valid only because the delete runs first.
    const ok = (await (
      await fetch(`${base}/zones/${zoneId}/dns_records/batch`, {
        method: "POST",
        headers: CF_AUTH,
        body: JSON.stringify({
          posts: [{ type: "A", name: "h2.example.com", content: "198.51.100.10", ttl: 300 }],
          patches: [{ id: h3.id, content: "203.0.113.20" }],
          deletes: [{ id: h2.id }],
        }),
      })
    ).json()) as any;
    expect(ok.success).toBe(true);
    expect(ok.result.deletes[0].id).toBe(h2.id);
    expect(cf.find("example.com", "h3", "A")[0]!.content).toBe("203.0.113.20");
    const before = JSON.stringify(cf.list("example.com"));
    cf.failNext({ kind: "batch-fail", at: 1 });
    const h4 = cf.find("example.com", "h4", "A")[0]!;
    const h5 = cf.find("example.com", "h5", "A")[0]!;
    const failed = await fetch(`${base}/zones/${zoneId}/dns_records/batch`, {
      method: "POST",
      headers: CF_AUTH,
      body: JSON.stringify({
        patches: [
          { id: h4.id, content: "203.0.113.20" },
          { id: h5.id, content: "203.0.113.20" },
        ],
      }),
    });
    expect(failed.status).toBe(500);
    expect(JSON.stringify(cf.list("example.com"))).toBe(before);
    const tooBig = await fetch(`${base}/zones/${zoneId}/dns_records/batch`, {
      method: "POST",
      headers: CF_AUTH,
      body: JSON.stringify({ deletes: Array.from({ length: 201 }, () => ({ id: h4.id })) }),
    });
    expect(tooBig.status).toBe(400);
  });

  it("rate-limits with 429 and Retry-After once the window is full", async () => {
    const small = new CloudflareFake({
      baseUrl: "https://cf2.fake.test/client/v4",
      switches: { rateLimit: { requests: 3, windowMs: 300_000 } },
    });
    server.use(...small.handlers);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await fetch("https://cf2.fake.test/client/v4/zones", { headers: CF_AUTH })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const r = await fetch("https://cf2.fake.test/client/v4/zones", { headers: CF_AUTH });
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    server.resetHandlers();
  });

  it("logs every request and injects lost answers after applying", async () => {
    const h6 = cf.find("example.com", "h6", "A")[0]!;
    cf.failNext({ kind: "lost" }, (r) => r.method === "PATCH");
    await expect(
      fetch(`${base}/zones/${zoneId}/dns_records/${h6.id}`, {
        method: "PATCH",
        headers: CF_AUTH,
        body: JSON.stringify({ ttl: 300 }),
      }),
    ).rejects.toThrow();
    expect(cf.find("example.com", "h6", "A")[0]!.ttl).toBe(300);
    expect(cf.log.at(-1)).toMatchObject({ method: "PATCH", status: 0 });
  });

  it("uses the real base URL by default", () => {
    expect(new CloudflareFake().baseUrl).toBe(CLOUDFLARE_URL);
  });
});

describe("Linode fake", () => {
  const base = "https://linode.fake.test/v4";
  beforeAll(() => {
    li.addDomain("example.org", 0);
    for (let i = 0; i < 30; i++)
      li.addRecord("example.org", { name: i === 0 ? "" : `h${i}`, type: "A", target: "198.51.100.10", ttl_sec: 600 });
    li.addDomain("other.org");
    li.addIp("203.0.113.20");
  });

  it("filters domains with X-Filter and pages records", async () => {
    const d = (await (
      await fetch(`${base}/domains`, { headers: { ...LI_AUTH, "x-filter": JSON.stringify({ domain: "example.org" }) } })
    ).json()) as any;
    expect(d.results).toBe(1);
    expect(d.data[0].domain).toBe("example.org");
    const p2 = (await (
      await fetch(`${base}/domains/${d.data[0].id}/records?page=2&page_size=25`, { headers: LI_AUTH })
    ).json()) as any;
    expect(p2).toMatchObject({ page: 2, pages: 2, results: 30 });
    expect(p2.data).toHaveLength(5);
  });

  it('rounds TTLs up to its steps, names the apex "" and answers errors as {errors:[{field, reason}]}', async () => {
    const apex = li.find("example.org", "", "A")[0]!;
    expect(apex.ttl_sec).toBe(3600);
    const d = li.domainByName("example.org");
    const r = (await (
      await fetch(`${base}/domains/${d.id}/records/${apex.id}`, {
        method: "PUT",
        headers: LI_AUTH,
        body: JSON.stringify({ ttl_sec: 250 }),
      })
    ).json()) as any;
    expect(r.ttl_sec).toBe(300);
    const bad = await fetch(`${base}/domains/${d.id}/records/${apex.id}`, {
      method: "PUT",
      headers: LI_AUTH,
      body: JSON.stringify({ target: "nope" }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ errors: [{ field: "target", reason: "Invalid IPv4 address" }] });
    const unauth = await fetch(`${base}/domains`, { headers: { authorization: "Bearer wrong" } });
    expect(unauth.status).toBe(401);
  });

  it("sets reverse DNS only for a name that resolves to the address", async () => {
    const no = await fetch(`${base}/networking/ips/203.0.113.20`, {
      method: "PUT",
      headers: LI_AUTH,
      body: JSON.stringify({ rdns: "mail.example.org" }),
    });
    expect(no.status).toBe(400);
    li.addRecord("example.org", { name: "mail", type: "A", target: "203.0.113.20" });
    const yes = await fetch(`${base}/networking/ips/203.0.113.20`, {
      method: "PUT",
      headers: LI_AUTH,
      body: JSON.stringify({ rdns: "mail.example.org" }),
    });
    expect(((await yes.json()) as any).rdns).toBe("mail.example.org");
  });

  it("injects 429 with Retry-After", async () => {
    li.failNext({ kind: "status", status: 429, retryAfter: 2 });
    const r = await fetch(`${base}/domains`, { headers: LI_AUTH });
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("2");
  });

  it("uses the real base URL by default", () => {
    expect(new LinodeFake().baseUrl).toBe(LINODE_URL);
  });
});
