// A small typed client for the adanalysis API (all paths under /api/v1).

export type JobStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export const FINAL_STATUSES: JobStatus[] = ["completed", "failed", "cancelled"];

export interface Job {
  _id: string;
  job_type?: string;
  status: JobStatus;
  progress: number;
  message: string | null;
  error_message: string | null;
  result_count?: number | null;
  created_at?: string;
  started_at?: string | null;
  completed_at?: string | null;
  estimated_duration_seconds?: number | null;
  actual_duration_seconds?: number | null;
  cancel_requested_at?: string | null;
  parameters?: { account_id?: string; account_ids?: string[] | null; [k: string]: unknown };
}

export interface JobStarted {
  job_id: string;
  status: JobStatus;
  message: string;
  estimated_duration_seconds: number;
}

export interface Credentials {
  account_id: string;
  access_token: string; // always the mask
  updated_at: string;
}

export interface User {
  id?: string;
  email: string;
  [k: string]: unknown;
}

export interface Insights {
  hook?: { text?: string | null; type?: string | null } | null;
  core_message?: string | null;
  offer?: string | null;
  call_to_action?: { text?: string | null; timestamp_seconds?: number | null } | null;
  emotional_tone?: { label?: string | null; score?: number | null } | null;
  words_per_minute?: number | null;
  speech_in_first_5s?: boolean | null;
  score?: number | null;
  score_reasons?: string[] | null;
  strengths?: string[] | null;
  weaknesses?: string[] | null;
  suggestions?: string[] | null;
  pain_points?: string[] | null;
  benefits?: string[] | null;
  social_proof?: string[] | null;
  urgency?: string | null;
  evidence?: { quote: string; timestamp_seconds?: number | null }[] | null;
}

export interface Analysis {
  _id: string;
  account_id: string;
  video_id: string;
  ad_ids: string[];
  ad_names: string[];
  title: string | null;
  thumbnail_url: string | null;
  duration_seconds: number | null;
  transcript: string;
  language: string | null;
  insights: Insights | null;
  analyzer?: string;
  job_id: string | null;
  created_at: string;
}

export interface Page<T> {
  items: T[];
  next: string | null;
}

const TOKEN_KEY = "adanalysis.token";

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export { TOKEN_KEY };

/** An API error with the server's `detail` turned into readable text. */
export class ApiError extends Error {
  status: number;
  body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function detailText(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const field = (d.loc ?? []).filter((p) => p !== "body").join(".");
        const msg = (d.msg ?? "invalid value").replace(/^Value error, /, "");
        return field ? `${field}: ${msg}` : msg;
      })
      .join("; ");
  }
  if (status === 0) return "The server could not be reached. Check your connection.";
  return `Request failed (HTTP ${status}).`;
}

type Options = { method?: string; json?: unknown; form?: Record<string, string> };

async function request(path: string, opts: Options = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = new URLSearchParams(opts.form);
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, { method: opts.method ?? "GET", headers, body });
  } catch {
    throw new ApiError(0, detailText(null, 0), null);
  }
  if (!res.ok) {
    const data = await res.json().catch(() => null);
    if (res.status === 401 && token && !path.startsWith("/auth/token")) {
      window.dispatchEvent(new CustomEvent("adanalysis:unauthorized"));
    }
    throw new ApiError(res.status, detailText(data, res.status), data);
  }
  return res;
}

async function json<T>(path: string, opts?: Options): Promise<T> {
  const res = await request(path, opts);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

async function page<T>(path: string): Promise<Page<T>> {
  const res = await request(path);
  return { items: (await res.json()) as T[], next: res.headers.get("X-Next-Before") };
}

function qs(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  register: (email: string, password: string) =>
    json<User>("/auth/register", { method: "POST", json: { email, password } }),
  signIn: (email: string, password: string) =>
    json<{ access_token: string }>("/auth/token", {
      method: "POST",
      form: { username: email, password },
    }),
  me: () => json<User>("/auth/me"),

  getCredentials: () => json<Credentials>("/ad_analysis/credentials"),
  putCredentials: (access_token: string, account_id: string) =>
    json<Credentials>("/ad_analysis/credentials", {
      method: "PUT",
      json: { access_token, account_id },
    }),
  deleteCredentials: () => json<void>("/ad_analysis/credentials", { method: "DELETE" }),

  startAnalysis: (accounts: string[]) =>
    json<JobStarted>("/ad_analysis/start-analysis/", {
      method: "POST",
      json:
        accounts.length === 0
          ? undefined
          : accounts.length === 1
            ? { account_id: accounts[0] }
            : { account_ids: accounts },
    }),
  jobStatus: (id: string) => json<Job>(`/ad_analysis/job-status/${encodeURIComponent(id)}`),
  jobs: (params: { limit?: number; before?: string | null; status?: JobStatus }) =>
    page<Job>(`/ad_analysis/jobs/${qs(params)}`),
  cancelJob: (id: string) =>
    json<{ message: string }>(`/ad_analysis/job/${encodeURIComponent(id)}`, { method: "DELETE" }),

  analyses: (params: { limit?: number; before?: string | null }) =>
    page<Analysis>(`/ad_analysis/${qs(params)}`),
};

export function jobSocketUrl(jobId: string, token: string): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/api/v1/ad_analysis/ws/jobs/${encodeURIComponent(jobId)}?token=${encodeURIComponent(token)}`;
}

/** Server timestamps without a zone are UTC. */
export function parseTime(value: string | null | undefined): number | null {
  if (!value) return null;
  const hasZone = /[zZ]|[+-]\d\d:?\d\d$/.test(value);
  const t = Date.parse(hasZone ? value : `${value}Z`);
  return Number.isNaN(t) ? null : t;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export function formatDate(value: string | null | undefined): string {
  const t = parseTime(value);
  if (t === null) return "—";
  return new Date(t).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}
