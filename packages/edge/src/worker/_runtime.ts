/** The parts of the Workers runtime the scheduler uses (declared here instead of pulling in workers-types). */

export interface SqlCursor<T> {
  toArray(): T[];
  one(): T;
}

export interface SqlStorage {
  exec<T = Record<string, string | number | null>>(query: string, ...bindings: unknown[]): SqlCursor<T>;
}

export interface DurableObjectStorage {
  sql: SqlStorage;
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
  deleteAlarm(): Promise<void>;
  /** Resolves once the writes so far are committed. */
  sync(): Promise<void>;
  transactionSync<T>(fn: () => T): T;
}

export interface DurableObjectState {
  storage: DurableObjectStorage;
  /** Keeps the object alive for work that runs on after a handler returned (notifications). */
  waitUntil?(promise: Promise<unknown>): void;
  blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>;
}

export interface DurableObjectStub {
  fetch(request: Request): Promise<Response>;
}

export interface DurableObjectNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): DurableObjectStub;
}

export interface AlarmInvocationInfo {
  retryCount: number;
  isRetry: boolean;
}
