import { lazy, Suspense, useCallback, useEffect, useRef, useState } from "react";
import { AdsPage } from "./Ads";
import { AnalysesList, AnalysisPage } from "./Analyses";
import { api, ApiError, Credentials, FINAL_STATUSES, getToken, Job, setToken, TOKEN_KEY, User } from "./api";
import { AuthPage } from "./Auth";
import { ConnectionPage } from "./Connection";
import { HistoryPage } from "./History";
import { JobPage } from "./JobPage";
import { JobPanel, StatusBadge } from "./JobPanel";
import { Link, usePath } from "./nav";
import { SettingsPage } from "./Settings";
import { Toast, useJobEndAlerts } from "./Toast";
import { useJobWatcher } from "./useJobWatcher";

type Route =
  | { name: "analyze" | "history" | "connection" | "ads" | "compare" | "admin" | "settings" }
  | { name: "job"; id: string }
  | { name: "analysis"; id: string };

export function routeOf(path: string): Route {
  const job = /^\/jobs\/([^/]+)\/?$/.exec(path);
  if (job) return { name: "job", id: decodeURIComponent(job[1]) };
  const analysis = /^\/analyses\/([^/]+)\/?$/.exec(path);
  if (analysis) return { name: "analysis", id: decodeURIComponent(analysis[1]) };
  const page = path.replace(/^\/|\/$/g, "");
  if (page === "history" || page === "connection" || page === "ads" || page === "compare" || page === "admin" || page === "settings")
    return { name: page };
  return { name: "analyze" };
}

// The charting library is most of the bundle: load it with the page that draws charts.
const ComparePage = lazy(() => import("./Compare").then((m) => ({ default: m.ComparePage })));
const AdminPage = lazy(() => import("./Admin").then((m) => ({ default: m.AdminPage })));

// How often a page with no job in view asks whether one was started elsewhere (another device).
const DISCOVER_MS = 5000;

// Tabs of the same browser tell each other about new jobs and connection changes.
const channel: BroadcastChannel | null = typeof BroadcastChannel !== "undefined" ? new BroadcastChannel("adanalysis") : null;
type Message = { type: "job-started"; job_id: string } | { type: "credentials-changed" };

export function App() {
  const [token, setTokenState] = useState<string | null>(getToken);
  const [notice, setNotice] = useState<string | null>(null);

  const signIn = (t: string) => {
    setToken(t);
    setNotice(null);
    setTokenState(t);
  };
  const signOut = useCallback((message: string | null = null) => {
    setToken(null);
    if (location.pathname !== "/" || location.hash) history.replaceState(null, "", "/");
    setNotice(message);
    setTokenState(null);
  }, []);

  useEffect(() => {
    // Another tab signed in or out.
    const onStorage = (e: StorageEvent) => {
      if (e.key === TOKEN_KEY || e.key === null) setTokenState(getToken());
    };
    const onUnauthorized = () => signOut("Your session has expired. Please sign in again.");
    window.addEventListener("storage", onStorage);
    window.addEventListener("adanalysis:unauthorized", onUnauthorized);
    return () => {
      window.removeEventListener("storage", onStorage);
      window.removeEventListener("adanalysis:unauthorized", onUnauthorized);
    };
  }, [signOut]);

  if (!token) return <AuthPage onSignedIn={signIn} notice={notice} />;
  return <Workspace key={token} token={token} onSignOut={() => signOut()} />;
}

function Workspace({ token, onSignOut }: { token: string; onSignOut: () => void }) {
  const route = routeOf(usePath());
  const [user, setUser] = useState<User | null>(null);
  const [credentials, setCredentials] = useState<Credentials | null | undefined>(undefined);
  const [jobId, setJobId] = useState<string | null>(null);
  const [seed, setSeed] = useState<Job | null>(null);
  const [version, setVersion] = useState(0);
  const [startError, setStartError] = useState<{ text: string; connect: boolean } | null>(null);
  const [startNotice, setStartNotice] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [cancelling, setCancelling] = useState(false);
  const [accounts, setAccounts] = useState("");
  const { job, transport, error: watchError } = useJobWatcher(jobId, token, seed);
  const wasActive = useRef(false);

  const watch = useCallback((id: string, first: Job | null = null) => {
    setSeed(first);
    setJobId(id);
    setCancelling(false);
  }, []);

  const loadCredentials = useCallback(() => {
    api
      .getCredentials()
      .then(setCredentials)
      .catch((e) => {
        if (e instanceof ApiError && e.status === 404) setCredentials(null);
      });
  }, []);

  // Leave and come back: find this user's active job and resume watching it.
  const discover = useCallback(async () => {
    for (const status of ["running", "pending"] as const) {
      try {
        const page = await api.jobs({ status, limit: 1 });
        if (page.items.length) {
          const found = page.items[0];
          setJobId((current) => {
            if (current !== found._id) setSeed(found);
            return found._id;
          });
          return;
        }
      } catch {
        return;
      }
    }
  }, []);

  useEffect(() => {
    api.me().then(setUser).catch(() => undefined);
    loadCredentials();
    void discover();
  }, [loadCredentials, discover]);

  // A job started on another device shows up here within a few seconds.
  const watching = !!job && !FINAL_STATUSES.includes(job.status);
  useEffect(() => {
    if (watching) return;
    const t = window.setInterval(() => {
      if (document.visibilityState === "visible") void discover();
    }, DISCOVER_MS);
    return () => window.clearInterval(t);
  }, [watching, discover]);

  useEffect(() => {
    const onMessage = (ev: MessageEvent<Message>) => {
      if (ev.data?.type === "job-started") watch(ev.data.job_id);
      if (ev.data?.type === "credentials-changed") {
        setStartError(null);
        loadCredentials();
      }
    };
    const onVisible = () => {
      if (document.visibilityState === "visible") void discover();
    };
    channel?.addEventListener("message", onMessage);
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      channel?.removeEventListener("message", onMessage);
      document.removeEventListener("visibilitychange", onVisible);
    };
  }, [watch, loadCredentials, discover]);

  // Refresh history and analyses when the watched job ends (and when it starts, for history).
  const active = !!job && !FINAL_STATUSES.includes(job.status);
  useEffect(() => {
    if (wasActive.current !== active) setVersion((v) => v + 1);
    wasActive.current = active;
    if (!active) setCancelling(false);
  }, [active]);

  const start = async () => {
    // Asked on a click, as browsers require: a notification when the job ends out of sight.
    if (typeof Notification !== "undefined" && Notification.permission === "default") {
      void Notification.requestPermission().catch(() => undefined);
    }
    setStarting(true);
    setStartError(null);
    setStartNotice(null);
    const list = accounts
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    try {
      const started = await api.startAnalysis(list);
      watch(started.job_id, {
        _id: started.job_id,
        status: started.status,
        progress: 0,
        message: started.message,
        error_message: null,
        estimated_duration_seconds: started.estimated_duration_seconds,
        created_at: new Date().toISOString(),
        parameters: list.length > 1 ? { account_ids: list } : { account_id: list[0] ?? credentials?.account_id },
      });
      channel?.postMessage({ type: "job-started", job_id: started.job_id } satisfies Message);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        const body = e.body as { job_id?: string } | null;
        if (body?.job_id) {
          watch(body.job_id);
          setStartNotice("An analysis is already in progress — showing its progress.");
        } else setStartError({ text: e.message, connect: false });
      } else if (e instanceof ApiError && e.status === 400) {
        setStartError({ text: "No Facebook ad account is connected yet. Connect one, then start the analysis again.", connect: true });
      } else {
        setStartError({ text: e instanceof ApiError ? e.message : String(e), connect: false });
      }
    } finally {
      setStarting(false);
    }
  };

  const cancel = async () => {
    if (!jobId) return;
    setCancelling(true);
    try {
      await api.cancelJob(jobId);
      // The watcher shows "cancelled" when the job stops; re-read now in case it already has.
      api.jobStatus(jobId).then((j) => setSeed(j)).catch(() => undefined);
    } catch (e) {
      setCancelling(false);
      setStartError({ text: e instanceof ApiError ? e.message : String(e), connect: false });
    }
  };

  const dismiss = () => {
    setJobId(null);
    setSeed(null);
    setStartNotice(null);
  };

  const changeCredentials = (c: Credentials | null) => {
    setCredentials(c);
    setStartError(null);
    channel?.postMessage({ type: "credentials-changed" } satisfies Message);
  };

  // The watcher's own state wins; a fresh status read after cancel can only move it forward.
  const shown = job && seed && seed._id === job._id && FINAL_STATUSES.includes(seed.status) && !FINAL_STATUSES.includes(job.status) ? seed : job;
  const { toast, announcement, dismissToast } = useJobEndAlerts(shown, route.name === "analyze");
  const navLink = (to: string, name: Route["name"], label: string) => (
    <Link to={to} className={route.name === name ? "active" : ""} aria-current={route.name === name ? "page" : undefined}>
      {label}
    </Link>
  );

  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-inner">
          <Link className="brand" to="/">
            <span className="logo">A</span> adanalysis
          </Link>
          <nav aria-label="Main">
            {navLink("/", "analyze", "Analysis")}
            {navLink("/ads", "ads", "Ads")}
            {navLink("/compare", "compare", "Compare")}
            {navLink("/history", "history", "History")}
            {navLink("/connection", "connection", "Connection")}
            {navLink("/settings", "settings", "Settings")}
            {user?.is_admin === true && navLink("/admin", "admin", "Admin")}
          </nav>
          <div className="user">
            <span className="muted small" data-testid="user-email">
              {user?.email}
            </span>
            <button className="btn ghost small" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </div>
      </header>

      <main className="content">
        {route.name !== "analyze" && shown && active && (
          <Link className="job-banner" to="/">
            <StatusBadge status={shown.status} /> Analysis {shown.progress}% — {shown.message} <span>View →</span>
          </Link>
        )}

        {route.name === "analyze" && (
          <>
            <section className="card start">
              <div className="section-head">
                <div>
                  <h2>Analyse your video ads</h2>
                  <p className="muted">
                    {credentials === undefined ? (
                      "Checking your connection…"
                    ) : credentials ? (
                      <>
                        Connected to <strong>{credentials.account_name ?? credentials.account_id}</strong>
                        {credentials.account_name && <> ({credentials.account_id})</>} with token <code>{credentials.access_token}</code>.{" "}
                        <Link to="/connection">Change</Link>
                      </>
                    ) : (
                      <>
                        No Facebook account connected. <Link to="/connection">Connect one</Link> first (the demo uses token{" "}
                        <code>sandbox</code> and account <code>act_1234567890</code>).
                      </>
                    )}
                  </p>
                </div>
              </div>
              <div className="start-row">
                <button className="btn primary" onClick={start} disabled={starting || active}>
                  {starting ? "Starting…" : active ? "Analysis running…" : "Start analysis"}
                </button>
                <input
                  className="accounts"
                  name="accounts"
                  aria-label="Other ad accounts (optional, comma-separated)"
                  placeholder="Other ad accounts (optional, comma-separated)"
                  value={accounts}
                  onChange={(e) => setAccounts(e.target.value)}
                  disabled={active}
                />
              </div>
              {startError && (
                <div className="alert error" role="alert" data-testid="start-error">
                  {startError.text}
                  {startError.connect && (
                    <>
                      {" "}
                      <Link to="/connection">Open the connection form →</Link>
                    </>
                  )}
                </div>
              )}
              {startNotice && <div className="alert info">{startNotice}</div>}
              {shown && (
                <JobPanel
                  job={shown}
                  transport={transport}
                  watchError={watchError}
                  cancelling={cancelling}
                  onCancel={cancel}
                  onDismiss={dismiss}
                />
              )}
            </section>
            <AnalysesList version={version} />
          </>
        )}
        {route.name === "history" && <HistoryPage version={version} live={shown} />}
        {route.name === "connection" && <ConnectionPage credentials={credentials} onChange={changeCredentials} />}
        {route.name === "ads" && <AdsPage version={version} />}
        {route.name === "compare" && (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <ComparePage version={version} />
          </Suspense>
        )}
        {route.name === "settings" && <SettingsPage onAccountDeleted={onSignOut} />}
        {route.name === "admin" && (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <AdminPage />
          </Suspense>
        )}
        {route.name === "job" && <JobPage key={route.id} jobId={route.id} live={shown && shown._id === route.id ? shown : null} />}
        {route.name === "analysis" && <AnalysisPage key={route.id} analysisId={route.id} />}
      </main>
      <div className="sr-only" role="status" aria-live="polite" data-testid="live-announcer">
        {announcement}
      </div>
      {toast && <Toast toast={toast} onClose={dismissToast} />}
      <footer className="footer muted small">adanalysis · AI analysis of Facebook video ads · <a href="/docs">API docs</a></footer>
    </div>
  );
}
