export { startFakeServer, type Fault, type FaultPlan, type FakeSwitches, type LoggedRequest } from "./_common.js";
export {
  CLOUDFLARE_URL,
  CloudflareFake,
  type CfRecord,
  type CfZone,
  type CloudflareFakeOptions,
} from "./cloudflare.js";
export {
  LINODE_TTL_STEPS,
  LINODE_URL,
  LinodeFake,
  roundLinodeTtl,
  type LinodeDomain,
  type LinodeFakeOptions,
  type LinodeIp,
  type LinodeRecord,
} from "./linode.js";
export { PowerDnsFake, type PdnsFakeRrset, type PdnsFakeZone, type PowerDnsFakeOptions } from "./powerdns.js";
export { DIGITALOCEAN_URL, DigitalOceanFake, type DigitalOceanFakeOptions, type DoFakeRecord } from "./digitalocean.js";
export {
  HETZNER_URL,
  HetznerFake,
  type HetznerFakeOptions,
  type HetznerFakeRrset,
  type HetznerFakeZone,
} from "./hetzner.js";
export { ROUTE53_URL, Route53Fake, type R53Set, type R53Zone, type Route53FakeOptions } from "./route53.js";
