/**
 * The dependency rules of the source tree, checked in `npm run check` (`npm run deps`) with
 * dependency-cruiser. Packages import only downward (core at the bottom, dns and relay on core, edge on dns,
 * the CLI on all of them), only through their entry points (`@cutover/dns`, never `../../dns/src/…`); `src` never imports
 * tests; no cycles; inside the CLI, commands are the top layer: nothing below imports from `commands/`.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "A cycle makes load order matter and the lazy command table load everything at once.",
      from: { path: "^packages/[^/]+/src/" },
      to: { circular: true },
    },
    {
      name: "src-not-tests",
      severity: "error",
      comment: "Shipped code never imports test code or fixtures.",
      from: { path: "^packages/[^/]+/src/" },
      to: { path: ["^packages/[^/]+/test/", "^test/", "^bench/"] },
    },
    {
      name: "testkit-in-tests-only",
      severity: "error",
      comment: "@cutover/testkit (fixtures, the DNS API fakes, msw) is a devDependency: shipped code never imports it.",
      from: { path: "^packages/[^/]+/src/", pathNot: "^packages/testkit/" },
      to: { path: "^(packages/testkit/|node_modules/@cutover/testkit)" },
    },
    {
      name: "entry-points-only",
      severity: "error",
      comment: "Another package is reached through its package name and exports, not a path into its files.",
      from: { path: "^packages/([^/]+)/src/" },
      to: { path: "^packages/([^/]+)/", pathNot: "^packages/$1/", dependencyTypes: ["local"] },
    },
    {
      name: "core-is-the-base",
      comment:
        "The model of a move (errors, records and change sets, the move and timeline planners, the plan, the journal, the step policy) imports no other package of ours.",
      severity: "error",
      from: { path: "^packages/core/src/" },
      to: { path: "^(packages/(dns|relay|edge|cli|testkit)/|node_modules/@cutover/(dns|relay|edge|cli|testkit))" },
    },
    {
      name: "dns-is-a-base",
      severity: "error",
      comment: "DNS providers, changes and propagation know nothing of the relay, the edge or the CLI.",
      from: { path: "^packages/dns/src/" },
      to: { path: "^(packages/(relay|edge|cli|testkit)/|node_modules/@cutover/(relay|edge|cli|testkit))" },
    },
    {
      name: "relay-is-a-base",
      severity: "error",
      comment: "The relay runs alone on the old host with its own Node: it imports no other package of ours.",
      from: { path: "^packages/relay/src/" },
      to: { path: "^(packages/(dns|edge|cli|testkit)/|node_modules/@cutover/(dns|edge|cli|testkit))" },
    },
    {
      name: "edge-on-dns-only",
      severity: "error",
      comment: "The Worker bundles the DNS providers it needs and nothing of the relay or the CLI.",
      from: { path: "^packages/edge/src/" },
      to: { path: "^(packages/(relay|cli|testkit)/|node_modules/@cutover/(relay|cli|testkit))" },
    },
    {
      name: "cli-commands-on-top",
      severity: "error",
      comment:
        "Inside the CLI, commands/ is the top layer: what it uses (timeline, plan, output, report…) lives below and never imports back up.",
      from: {
        path: "^packages/cli/src/",
        pathNot: ["^packages/cli/src/commands/", "^packages/cli/src/(main|cli)\\.ts$"],
      },
      to: { path: "^packages/cli/src/commands/" },
    },
  ],
  options: {
    // Other packages are reached through node_modules (their built dist): seen as a leaf, not followed.
    doNotFollow: { path: ["node_modules", "/dist/"] },
    tsConfig: { fileName: "tsconfig.base.json" },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "default"] },
  },
};
