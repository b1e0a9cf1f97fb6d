// Types of the fuzzer library (index.mjs) for the TypeScript tests that import it.

export interface Rng {
  next(): number;
  int(n: number): number;
  between(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  weighted<T>(items: readonly (readonly [number, T])[]): T;
}
export function createRng(seed: string | number): Rng;

export interface FuzzRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | null;
  noHost?: boolean;
  ownLength?: boolean;
  sign?: { secret: string; skew: number } | null;
  signedBody?: Buffer;
}
export interface FuzzResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}
export function encodeRequest(request: FuzzRequest, hostHeader: string): Buffer;
export function send(
  target: { host: string; port: number },
  request: FuzzRequest,
  options?: { timeoutMs?: number },
): Promise<{ response: FuzzResponse | null; error: string | null; sent: Buffer }>;

export interface Route {
  key: string;
  method: string;
  template: string;
  params: { in: string; name: string; required: boolean; schema: Record<string, unknown> }[];
  bodySchema: Record<string, unknown> | null;
  isPublic: boolean;
  pathMethods: string[];
}
export interface Fixtures {
  apiKey: string;
  revokedKey: string | null;
  pools: Record<string, string[]>;
  hook: { path: string; secret: string } | null;
  workflowDocs: Record<string, unknown>[];
  agentManifests: Record<string, unknown>[];
  components: Record<string, unknown>;
}
export function routesOf(doc: Record<string, unknown>): Route[];
export function generateCase(
  seed: string | number,
  index: number,
  routes: Route[],
  fixtures: Fixtures,
): { route: Route; mutations: string[]; request: FuzzRequest };

export type Verdict = 'ok' | '5xx' | 'no-answer' | 'not-problem';
export interface CaseResult {
  index: number;
  route: string;
  mutations: string[];
  status: number;
  verdict: Verdict;
  detail: string;
  ms: number;
  sent?: Buffer;
}
export function judge(
  method: string,
  response: Pick<FuzzResponse, 'status' | 'headers' | 'body'> | null,
  error: string | null,
): { verdict: Verdict; detail: string };
export function statusTable(results: CaseResult[]): string;
export function parseSent(sent: Buffer): {
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
};
export function curlCommand(
  sent: Buffer,
  baseUrl: string,
  apiKey: string,
  bodyFile: string | null,
): string | null;

export interface FuzzRun {
  results: CaseResult[];
  failures: CaseResult[];
  routes: string[];
  notes: string[];
  health: { healthy: boolean; detail: string };
}
export function loopbackTarget(url: string): { host: string; port: number };
export function runFuzz(options: {
  url: string;
  apiKey: string;
  requests: number;
  seed: string | number;
  concurrency?: number;
  timeoutMs?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<FuzzRun>;
export function checkHealth(target: {
  host: string;
  port: number;
}): Promise<{ healthy: boolean; detail: string }>;

export interface SwarmServer {
  url: string;
  apiKey: string;
  dir: string;
  logFile: string;
  alive(): boolean;
  loggedErrors(): { msg: string; error: string }[];
  stop(options?: { keep?: boolean }): Promise<void>;
}
export function startSwarm(options: {
  database: 'sqlite' | 'postgres';
  dist: string;
  pgUrl?: string;
  databaseUrl?: string;
}): Promise<SwarmServer>;
