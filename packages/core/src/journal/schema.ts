import { z } from "zod";
import { STEP_KINDS } from "../timeline.js";

/**
 * The shapes a journal's JSON is checked against when read back: the state snapshot and each event line
 * (loose objects: a newer cutover may add fields; each step's result is taken as its step wrote it).
 */

export const recordSchema = z.looseObject({
  id: z.string(),
  zone: z.string(),
  name: z.string(),
  type: z.string(),
  content: z.string(),
  ttl: z.number(),
});

export const stepStateSchema = z.looseObject({
  status: z.enum(["pending", "running", "done", "failed", "skipped"]),
  attempts: z.number().int().nonnegative(),
  startedAt: z.string().optional(),
  doneAt: z.string().optional(),
  error: z.string().optional(),
  result: z.unknown().optional(),
  nextPollAt: z.string().optional(),
});

export const planInfoSchema = z.object({
  file: z.string(),
  hash: z.string(),
  text: z.string(),
  plannedAt: z.string(),
  acceptRisk: z.boolean(),
});

export const runStateSchema = z.looseObject({
  version: z.literal(1),
  name: z.string(),
  plan: planInfoSchema,
  originals: z.array(recordSchema),
  steps: z.partialRecord(z.enum(STEP_KINDS), stepStateSchema),
  rolledBack: z.looseObject({ at: z.string(), outcomes: z.array(z.unknown()) }).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const eventSchema = z.looseObject({
  at: z.string(),
  type: z.string(),
  step: z.enum(STEP_KINDS).optional(),
});
