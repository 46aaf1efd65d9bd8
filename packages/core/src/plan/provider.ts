import type { z } from "zod";

/**
 * What the plan needs of a DNS provider: its name in `dns.provider`, the options it adds under `dns:`, and the
 * checks across them that one option's schema cannot make. Each provider declares these in its own file in
 * `@cutover/dns` (its `ProviderDefinition` is one of these); the plan schema is built from the list passed in,
 * so this package names no provider.
 */

/**
 * Validators for the kinds of values a provider option holds, supplied by the plan schema (the plan's fields,
 * with their messages), so an option of a kind reads the same everywhere in a plan; and zod itself, so that a
 * provider's file does not import it (the Worker bundles provider files, not plans: zod would add ~440 KB to it).
 */
export interface OptionKinds {
  z: typeof z;
  /** A DNS name such as example.com (lowercased, without the final dot). */
  hostname: z.ZodType<string, string>;
  /** A file path, relative to the plan file or absolute. */
  filePath: z.ZodType<string, string>;
  /** `host`, `host:port`, `[v6]:port`. */
  hostPort: z.ZodType<string, string>;
  /** A shell command line. */
  shellCommand: z.ZodType<string, string>;
}

/** A provider's options schema: the plan keys it adds under `dns:` (besides the common ones), as a zod shape. */
export type OptionsShape = (kinds: OptionKinds) => z.ZodRawShape;
/** The typed options a provider's factory gets from its shape. */
export type OptionsOf<S extends OptionsShape> = keyof ReturnType<S> extends never
  ? object
  : z.output<z.ZodObject<ReturnType<S>>>;

/** What a provider's plan check reports; paths are under `dns` (`["files", "example.com"]`). */
export interface ProviderPlanChecks {
  /** A problem that stops the plan, at its place in the file. */
  problem(path: readonly PropertyKey[], message: string): void;
  /** Advice that does not stop the plan. */
  warning(message: string): void;
  /**
   * A file the plan names (relative to the plan's directory): when the plan is read from a file, it must be
   * a regular file (a device or FIFO would be read for ever); a missing one is left to its reader.
   */
  file(path: readonly PropertyKey[], file: string): void;
}

/** A provider as the plan knows it. */
export interface PlanProvider<N extends string = string, S extends OptionsShape = OptionsShape> {
  name: N;
  options: S;
  /** Checks across the provider's options and the plan's zones (a zone file for every zone). */
  checkPlan?(dns: OptionsOf<S> & { zones: readonly string[] }, check: ProviderPlanChecks): void;
}
