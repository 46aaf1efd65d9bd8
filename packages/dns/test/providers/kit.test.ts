import { http, HttpResponse } from "msw";
import { afterAll, describe, expect, it } from "vitest";
import { HttpKit, providerError, withRetries, type Failure } from "../../src/providers/_kit.js";
import { startFakeServer } from "@cutover/testkit/dns-fakes";

// The kit is the one retry policy, hint table and redaction every provider goes through (the HTTP ones via
// HttpKit, Route 53 via withRetries/providerError on the SDK's exceptions). These attack it directly.
const TOKEN = "kit-secret-token-0123456789";
const BASE = "https://kit.test/api";
const server = startFakeServer();
afterAll(() => server.close());

const hints = { label: "Kit", auth: "check KIT_TOKEN", rateLimit: "Kit's limit was hit" };

function kit(waits: number[], retries = 4) {
  return new HttpKit({
    provider: "kit",
    baseUrl: BASE,
    headers: { authorization: `Bearer ${TOKEN}` },
    secrets: [TOKEN],
    hints,
    errorText: (b) => (b as { message?: string } | undefined)?.message,
    retries,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
}

describe("the provider kit", () => {
  it("never lets the token out, even when the API echoes the request's header back in its error", async () => {
    server.use(
      http.get(`${BASE}/echo`, ({ request }) =>
        HttpResponse.json({ message: `bad header ${request.headers.get("authorization")}` }, { status: 400 }),
      ),
    );
    const e = (await kit([])
      .request("GET", "/echo", { what: "reading" })
      .catch((x: unknown) => x)) as Error & { code?: string; hint?: string };
    expect(e.message).toBe("[kit] 400 bad header Bearer [REDACTED] while reading");
    expect(JSON.stringify({ ...e, message: e.message, hint: e.hint })).not.toContain(TOKEN);
  });

  it("retries 429 after Retry-After and 5xx with backoff, then succeeds; a 400 is not retried", async () => {
    let n = 0;
    server.use(
      http.get(`${BASE}/flaky`, () => {
        n++;
        if (n === 1)
          return HttpResponse.json({ message: "slow down" }, { status: 429, headers: { "retry-after": "7" } });
        if (n === 2) return HttpResponse.json({ message: "oops" }, { status: 502 });
        return HttpResponse.json({ ok: true });
      }),
      http.get(`${BASE}/bad`, () => {
        n++;
        return HttpResponse.json({ message: "no such field" }, { status: 400 });
      }),
    );
    const waits: number[] = [];
    expect((await kit(waits).request<{ ok: boolean }>("GET", "/flaky", { what: "x" })).body.ok).toBe(true);
    expect(waits).toEqual([7000, 1000]);
    n = 0;
    await expect(kit(waits).request("GET", "/bad", { what: "x" })).rejects.toThrow(/400 no such field/);
    expect(n).toBe(1);
  });

  it("gives up after its retries with the rate-limit hint and code, and says where it sent a request nobody answered", async () => {
    server.use(http.get(`${BASE}/limited`, () => HttpResponse.json({ message: "limited" }, { status: 429 })));
    const e = (await kit([], 1)
      .request("GET", "/limited", { what: "x" })
      .catch((x: unknown) => x)) as Error & { code?: string; hint?: string };
    expect(e).toMatchObject({ code: "E_RATE_LIMIT", hint: "Kit's limit was hit" });
    server.use(http.get(`${BASE}/down`, () => HttpResponse.error()));
    const down = (await kit([], 0)
      .request("GET", "/down", { what: "reading" })
      .catch((x: unknown) => x)) as Error & { code?: string; hint?: string };
    expect(down.message).toMatch(/^\[kit\] network error: .* while reading \(https:\/\/kit\.test\/api\)$/);
    expect(down.hint).toMatch(/^Kit did not answer cleanly/);
  });

  it("puts an SDK's exceptions through the same policy: a throttle by name is retried, missing credentials are not", async () => {
    const describeSdk = (e: unknown): Failure => {
      const x = e as { name: string; status?: number };
      return {
        status: x.status,
        reason: `${x.name}: ${TOKEN}`,
        throttled: x.name === "Throttling",
        auth: x.name === "CredentialsProviderError",
      };
    };
    const waits: number[] = [];
    let calls = 0;
    const throttled = async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error("rate"), { name: "Throttling", status: 400 });
      return "ok";
    };
    const policy = {
      retries: 4,
      sleep: async (ms: number) => {
        waits.push(ms);
      },
      describe: describeSdk,
      fail: (f: Failure) => providerError("sdk", f, "asking", { hints, secrets: [TOKEN] }),
    };
    expect(await withRetries(throttled, policy)).toBe("ok");
    expect(waits).toEqual([500, 1000]);
    calls = 0;
    const noCredentials = async () => {
      calls++;
      throw Object.assign(new Error("none"), { name: "CredentialsProviderError" });
    };
    const e = (await withRetries(noCredentials, policy).catch((x: unknown) => x)) as Error & {
      code?: string;
      hint?: string;
    };
    expect(calls).toBe(1);
    expect(e.message).toBe("[sdk] no credentials: CredentialsProviderError: [REDACTED] while asking");
    expect(e).toMatchObject({ code: "E_AUTH", hint: "check KIT_TOKEN" });
  });
});
