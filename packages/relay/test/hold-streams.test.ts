// The hold's tests again on the stream path (net.Socket): the one SSH upstreams use, and the one every
// listener falls back to where Node's internals are not what raw.ts expects.
process.env.CUTOVER_RELAY_DATA_PATH = "streams";
const { rawPath } = await import("../src/raw.js");
if (rawPath !== undefined) throw new Error("CUTOVER_RELAY_DATA_PATH=streams did not turn the fast path off");
await import("./hold.test.js");
