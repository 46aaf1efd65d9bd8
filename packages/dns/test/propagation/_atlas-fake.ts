import * as dnsPacket from "dns-packet";
import { http, HttpResponse } from "msw";

/**
 * A stateful fake of the RIPE Atlas v2 API parts cutover uses: create a one-off DNS measurement, read its
 * status, its results (the real result shape: `resultset` entries with base64 `abuf`), and probes by id.
 * Each probe's resolver answers `answerFor(probeId)`. Auth: `Authorization: Key <key>`, else 403.
 */
export function createAtlasFake(options: {
  key: string;
  answerFor: (probe: number) => string | "timeout";
  countries?: string[];
}) {
  const base = "https://atlas.ripe.net";
  const measurements = new Map<number, { body: any; probes: Array<{ id: number; country: string }>; polls: number }>();
  const requests: Array<{ method: string; path: string; authorization: string | null }> = [];
  let nextId = 70000001;
  const forbidden = () =>
    HttpResponse.json(
      {
        error: {
          status: 403,
          code: 104,
          title: "Forbidden",
          detail: "Authentication credentials were not provided or are invalid.",
        },
      },
      { status: 403 },
    );
  const authed = (req: Request) => {
    const a = req.headers.get("authorization");
    requests.push({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, authorization: a });
    return a === `Key ${options.key}`;
  };
  const handlers = [
    http.post(`${base}/api/v2/measurements/`, async ({ request }) => {
      if (!authed(request)) return forbidden();
      const body = (await request.json()) as any;
      const def = body?.definitions?.[0];
      const errors: Array<{ source: { pointer: string }; detail: string }> = [];
      if (!def || def.type !== "dns")
        errors.push({ source: { pointer: "/definitions/0/type" }, detail: "This field is required." });
      if (def && !def.query_argument)
        errors.push({ source: { pointer: "/definitions/0/query_argument" }, detail: "This field is required." });
      if (def && def.use_probe_resolver !== true && !def.target)
        errors.push({ source: { pointer: "/definitions/0/target" }, detail: "This field is required." });
      if (!Array.isArray(body?.probes) || body.probes.length === 0)
        errors.push({ source: { pointer: "/probes" }, detail: "This field is required." });
      if (errors.length)
        return HttpResponse.json(
          {
            error: {
              status: 400,
              code: 102,
              title: "Bad Request",
              detail: "There was a problem with your request",
              errors,
            },
          },
          { status: 400 },
        );
      const probes: Array<{ id: number; country: string }> = [];
      let pid = 1000;
      for (const p of body.probes as Array<{ type: string; value: string; requested: number }>)
        for (let i = 0; i < p.requested; i++) {
          const country =
            p.type === "country"
              ? p.value
              : (options.countries ?? ["DE", "NL", "US"])[i % (options.countries?.length ?? 3)]!;
          probes.push({ id: pid++, country });
        }
      const id = nextId++;
      measurements.set(id, { body, probes, polls: 0 });
      return HttpResponse.json({ measurements: [id] }, { status: 201 });
    }),
    http.get(`${base}/api/v2/measurements/:id/`, ({ request, params }) => {
      if (!authed(request)) return forbidden();
      const m = measurements.get(Number(params.id));
      if (!m)
        return HttpResponse.json(
          { error: { status: 404, code: 104, title: "Not Found", detail: "Not found." } },
          { status: 404 },
        );
      m.polls++;
      const name = m.polls < 2 ? "Ongoing" : "Stopped";
      return HttpResponse.json({
        id: Number(params.id),
        type: "dns",
        is_oneoff: true,
        status: { id: name === "Stopped" ? 4 : 2, name },
      });
    }),
    http.get(`${base}/api/v2/measurements/:id/results/`, ({ request, params }) => {
      if (!authed(request)) return forbidden();
      const id = Number(params.id);
      const m = measurements.get(id);
      if (!m)
        return HttpResponse.json(
          { error: { status: 404, code: 104, title: "Not Found", detail: "Not found." } },
          { status: 404 },
        );
      const def = m.body.definitions[0];
      const now = 1795000000;
      return HttpResponse.json(
        m.probes.map((p) => {
          const answer = options.answerFor(p.id);
          const entry =
            answer === "timeout"
              ? {
                  af: 4,
                  dst_addr: "192.168.1.1",
                  error: { timeout: 5000 },
                  lts: 20,
                  proto: "UDP",
                  subid: 1,
                  submax: 1,
                  time: now,
                }
              : {
                  af: 4,
                  dst_addr: "192.168.1.1",
                  lts: 20,
                  proto: "UDP",
                  subid: 1,
                  submax: 1,
                  time: now,
                  result: {
                    ANCOUNT: 1,
                    ARCOUNT: 0,
                    ID: 4242,
                    NSCOUNT: 0,
                    QDCOUNT: 1,
                    rt: 12.3,
                    size: 60,
                    abuf: dnsPacket
                      .encode({
                        type: "response",
                        id: 4242,
                        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
                        questions: [{ name: def.query_argument, type: def.query_type, class: "IN" }],
                        answers: [{ name: def.query_argument, type: def.query_type, ttl: 120, data: answer }],
                      })
                      .toString("base64"),
                  },
                };
          return {
            fw: 5080,
            lts: 20,
            from: "198.51.100.200",
            group_id: id,
            msm_id: id,
            msm_name: "Tdig",
            prb_id: p.id,
            timestamp: now,
            type: "dns",
            resultset: [entry],
          };
        }),
      );
    }),
    http.get(`${base}/api/v2/probes/`, ({ request }) => {
      if (!authed(request)) return forbidden();
      const url = new URL(request.url);
      const ids = (url.searchParams.get("id__in") ?? "").split(",").map(Number);
      const all = [...measurements.values()].reverse().flatMap((m) => m.probes); // probe ids repeat per measurement: newest first
      const results = ids.map((id) => ({ id, country_code: all.find((p) => p.id === id)?.country ?? null }));
      return HttpResponse.json({ count: results.length, next: null, previous: null, results });
    }),
  ];
  return { handlers, measurements, requests };
}
