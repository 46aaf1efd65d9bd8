export { CHROMIUM, layoutInChromium, renderInChromium, type Layout } from "./chromium.js";
export { installTestService, type TestService } from "./service.js";
export { fingerprintOf, keygen, startSshd, type TestSshd } from "./sshd.js";
export { UNBOUND, startUnbound, unboundConfig, type Unbound, type UnboundOptions } from "./unbound.js";
export { startKnot, zoneText, type KnotServer } from "./knot.js";
export { startKnotBehindUnbound, type KnotBehindUnbound } from "./knot-behind-unbound.js";
export { runBounded, type BoundedRun } from "./process.js";
export { freePort } from "./ports.js";
export { renderTerminal, runInPty, startInPty, type PtyProcess, type PtyRun, type Screen } from "./pty.js";
export { startProcess, type Proc } from "./started.js";
export { createTestNetwork, type HostSpec, type Netns, type TestNetwork } from "./netns.js";
// The stateful fakes of the DNS providers' APIs (msw handlers: Cloudflare, Linode, PowerDNS, DigitalOcean,
// Hetzner, Route 53) are the subpath export `@cutover/testkit/dns-fakes`, so a test that needs none does not
// load msw.
export {
  decisionOf,
  describeWait,
  isExpect,
  JOURNAL,
  JOURNAL_OLD_TTL_MS,
  JOURNAL_STEPS,
  JOURNAL_SWAP_AT,
  replayJournal,
  type JournalRunner,
  type JournalAct,
  type JournalEntry,
  type JournalExpect,
  type JournalStep,
} from "./step-journal.js";
