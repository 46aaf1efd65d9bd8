export { CHROMIUM, layoutInChromium, renderInChromium, type Layout } from "./chromium.js";
export { installTestService, type TestService } from "./service.js";
export { fingerprintOf, keygen, startSshd, type TestSshd } from "./sshd.js";
export { UNBOUND, unboundConfig, type UnboundOptions } from "./unbound.js";
export { runBounded, type BoundedRun } from "./process.js";
export { freePort } from "./ports.js";
export { renderTerminal, runInPty, startInPty, type PtyProcess, type PtyRun, type Screen } from "./pty.js";
