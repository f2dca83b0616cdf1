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
  error_code?: string | null;
  results?: JobResult[] | null;
  result_summary?: Record<string, number>;
}

/** One entry of a job's results: a video's outcome, or a warning about a stage. */
export interface JobResult {
  status: "analyzed" | "skipped" | "failed" | "warning" | string;
  video_id?: string;
  analysis_id?: string;
  ad_ids?: string[];
  ad_names?: string[];
  error?: string;
  code?: string;
  stage?: string;
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
  account_name?: string | null;
  account_currency?: string | null;
  account_status?: string | null;
  updated_at: string;
}

export interface Performance {
  spend: number | null;
  currency: string | null;
  impressions: number | null;
  clicks: number | null;
  ctr: number | null;
  video_3s_plays: number | null;
  thruplays: number | null;
  hook_rate: number | null;
  hold_rate: number | null;
  date_start: string | null;
  date_stop: string | null;
}

export interface AnalysisBrief {
  _id: string;
  video_id: string;
  title: string | null;
  thumbnail_url: string | null;
  hook_type: string | null;
  hook_text: string | null;
  score: number | null;
  has_offer: boolean | null;
  words_per_minute: number | null;
  cta_seconds: number | null;
  job_id: string | null;
  created_at: string;
}

export interface Ad {
  _id: string;
  ad_id: string;
  ad_name: string;
  status: string | null;
  account_id: string;
  video_id: string | null;
  video_ids: string[];
  period: string;
  fetched_at: string;
  performance: Performance | null;
  analysis: AnalysisBrief | null;
}

export interface HookTypeSummary {
  hook_type: string;
  ads: number;
  impressions: number;
  spend: number;
  hook_rate: number | null;
  hold_rate: number | null;
  ctr: number | null;
  average_score: number | null;
}

export interface Comparison {
  period: string;
  ads: Ad[];
  by_hook_type: HookTypeSummary[];
}

export type SortKey = "date" | "score" | "spend" | "hook_rate";

/** What the analyses and ads lists can be narrowed and ordered by (the API's query parameters). */
export interface ListQuery {
  account_id?: string;
  job_id?: string;
  hook_type?: string;
  min_score?: string;
  max_score?: string;
  has_offer?: "" | "true" | "false";
  q?: string;
  sort?: SortKey;
  order?: "desc" | "asc";
}

export const HOOK_TYPES = ["question", "statistic", "bold_claim", "pain_point", "command", "story", "social_proof", "other"];

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
  performance?: Performance | null;
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

const FIELD_NAMES: Record<string, string> = {
  password: "Password",
  email: "Email",
  access_token: "Access token",
  account_id: "Ad account ID",
  account_ids: "Other ad accounts",
  min_score: "Minimum score",
  max_score: "Maximum score",
  q: "Search",
};

/** A validation message as a person would say it ("String should have at least 8 characters"). */
export function humanMessage(msg: string): string {
  const m = msg.replace(/^Value error, /, "");
  let match = /^String should have at least (\d+) characters?$/.exec(m);
  if (match) return `use at least ${match[1]} characters`;
  match = /^String should have at most (\d+) characters?$/.exec(m);
  if (match) return `use at most ${match[1]} characters`;
  if (m === "Field required") return "is required";
  if (/valid email address/.test(m)) return "is not a valid email address";
  match = /^Input should be (?:less|greater) than or equal to (\d+)$/.exec(m);
  if (match) return m.includes("less") ? `must be ${match[1]} or less` : `must be ${match[1]} or more`;
  return m.charAt(0).toLowerCase() + m.slice(1);
}

function detailText(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail.replace(/\s*with (PUT|GET|POST|DELETE) \/api\/\S+/g, "");
  if (Array.isArray(detail)) {
    return detail
      .map((d: { loc?: unknown[]; msg?: string }) => {
        const key = String((d.loc ?? []).filter((p) => p !== "body" && p !== "query").slice(-1)[0] ?? "");
        const field = FIELD_NAMES[key] ?? (key ? key.replace(/_/g, " ") : "");
        const msg = humanMessage(d.msg ?? "invalid value");
        return field ? `${field}: ${msg}.` : `${msg.charAt(0).toUpperCase()}${msg.slice(1)}.`;
      })
      .join(" ");
  }
  if (status === 0) return "The server could not be reached. Check your internet connection and try again.";
  if (status >= 500) return "Something went wrong on the server. Please try again in a moment.";
  return `The request was refused (HTTP ${status}). Please reload the page and try again.`;
}

/** Where the user can fix what an error is about, if anywhere. */
export function errorLink(code: string | null | undefined, message: string | null | undefined): { href: string; label: string } | null {
  const text = `${code ?? ""} ${message ?? ""}`;
  if (/facebook_(invalid_token|credentials_missing|permission_denied)|access token|credentials|permission/i.test(text))
    return { href: "/connection", label: "Open the connection form" };
  if (/openai_(invalid_key|quota)/.test(text)) return null;
  return null;
}

type Options = { method?: string; json?: unknown; form?: Record<string, string>; accept?: string };

async function request(path: string, opts: Options = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? "application/json" };
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

export function listParams(query: ListQuery): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") out[k] = String(v);
  return out;
}

/** Download a list as CSV with the signed-in user's token; the browser saves the file. */
async function downloadCsv(path: string, filename: string): Promise<void> {
  const res = await request(path, { accept: "text/csv" });
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function page<T>(path: string): Promise<Page<T>> {
  const res = await request(path);
  return { items: (await res.json()) as T[], next: res.headers.get("X-Next-Before") };
}

export function qs(params: Record<string, string | number | null | undefined>): string {
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

  analyses: (params: { limit?: number; before?: string | null } & ListQuery = {}) =>
    page<Analysis>(`/ad_analysis/${qs({ ...listParams(params), limit: params.limit, before: params.before })}`),
  analysis: (id: string) => json<Analysis>(`/ad_analysis/${encodeURIComponent(id)}`),
  ads: (params: { limit?: number; before?: string | null } & ListQuery = {}) =>
    page<Ad>(`/ad_analysis/ads/${qs({ ...listParams(params), limit: params.limit, before: params.before })}`),
  comparison: (query: ListQuery = {}) => json<Comparison>(`/ad_analysis/ads/comparison${qs(listParams(query))}`),
  exportAnalyses: (query: ListQuery) => downloadCsv(`/ad_analysis/${qs({ ...listParams(query), format: "csv" })}`, "analyses.csv"),
  exportAds: (query: ListQuery) => downloadCsv(`/ad_analysis/ads/${qs({ ...listParams(query), format: "csv" })}`, "ads.csv"),
  deleteAnalysis: (id: string) => json<void>(`/ad_analysis/${encodeURIComponent(id)}`, { method: "DELETE" }),
  deleteAllAnalyses: () => json<{ deleted: number }>("/ad_analysis/", { method: "DELETE" }),
  deleteAccount: (password: string) => json<void>("/auth/me/delete", { method: "POST", json: { password } }),

  notificationSettings: () => json<NotificationSettings>("/notifications/settings"),
  saveNotificationSettings: (body: { email_enabled: boolean; webhook_url: string | null; rotate_secret?: boolean }) =>
    json<NotificationSettings>("/notifications/settings", { method: "PUT", json: body }),
  webhookDeliveries: () => json<WebhookDelivery[]>("/notifications/webhook-deliveries"),

  jobMetrics: (range: MetricsRange) => json<JobMetrics>(`/admin/job-metrics${qs({ range })}`),
  activeJobs: () => json<ActiveJob[]>("/admin/jobs/active"),
  adminCancelJob: (id: string) => json<Job>(`/admin/jobs/${encodeURIComponent(id)}`, { method: "DELETE" }),
};

export interface NotificationSettings {
  email_enabled: boolean;
  email_available: boolean;
  webhook_url: string | null;
  webhook_secret: string | null; // only in the answer that made it
  signature_header: string;
}

export interface WebhookDelivery {
  id: string;
  job_id: string;
  event: string;
  url: string;
  attempt: number;
  status_code: number | null;
  ok: boolean;
  error: string | null;
  created_at: string;
}

export type MetricsRange = "24h" | "7d" | "30d" | "90d";

export interface SuccessRate {
  completed: number;
  failed: number;
  rate: number | null;
}

export interface JobMetrics {
  range: MetricsRange;
  since: string;
  generated_at: string;
  success: { day: SuccessRate; week: SuccessRate; month: SuccessRate };
  durations: {
    count: number;
    average_seconds: number | null;
    p95_seconds: number | null;
    seconds_per_video: number | null;
    buckets: { le_seconds: number | null; count: number }[];
  };
  stages: { stage: string; count: number; average_ms: number; total_ms: number }[];
  peak_usage: { weekday: number; hour: number; count: number }[];
  errors: {
    error_code: string | null;
    count: number;
    last_at: string | null;
    example_message: string | null;
    example_job_id: string | null;
  }[];
  engagement: {
    day: string;
    created: number;
    active_users: number;
    completed: number;
    failed: number;
    cancelled: number;
    success_rate: number | null;
  }[];
  active_users: number;
  queue: { pending: number; running: number; oldest_pending_at: string | null; oldest_pending_age_seconds: number | null };
}

export interface ActiveJob {
  id: string;
  user_id: string;
  user_email: string | null;
  job_type: string;
  status: JobStatus;
  progress: number;
  message: string | null;
  worker_id: string | null;
  created_at: string;
  started_at: string | null;
  heartbeat_age_seconds: number | null;
  cancel_requested: boolean;
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(digits)}%`;
}

export function formatMoney(value: number | null | undefined, currency: string | null | undefined): string {
  if (value === null || value === undefined) return "—";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD", maximumFractionDigits: 2 }).format(value);
  } catch {
    return value.toFixed(2);
  }
}

export function formatCount(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : value.toLocaleString();
}

export const hookLabel = (t: string | null | undefined): string => (t ? t.replace(/_/g, " ") : "—");

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
