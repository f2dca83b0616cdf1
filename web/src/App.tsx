import { useCallback, useEffect, useRef, useState } from "react";
import { AnalysesList } from "./Analyses";
import { api, ApiError, Credentials, FINAL_STATUSES, getToken, Job, setToken, TOKEN_KEY, User } from "./api";
import { AuthPage } from "./Auth";
import { ConnectionPage } from "./Connection";
import { HistoryPage } from "./History";
import { JobPanel, StatusBadge } from "./JobPanel";
import { useJobWatcher } from "./useJobWatcher";

type Route = "analyze" | "history" | "connection";

function routeFromHash(): Route {
  const h = location.hash.replace(/^#\/?/, "");
  return h === "history" || h === "connection" ? h : "analyze";
}

function useRoute(): Route {
  const [route, setRoute] = useState<Route>(routeFromHash);
  useEffect(() => {
    const on = () => setRoute(routeFromHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

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
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
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
  const route = useRoute();
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
        setStartError({ text: e.message, connect: true });
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

  return (
    <div className="app">
      <header className="topbar">
        <div className="topbar-inner">
          <a className="brand" href="#/">
            <span className="logo">A</span> adanalysis
          </a>
          <nav>
            <a href="#/" className={route === "analyze" ? "active" : ""}>
              Analysis
            </a>
            <a href="#/history" className={route === "history" ? "active" : ""}>
              History
            </a>
            <a href="#/connection" className={route === "connection" ? "active" : ""}>
              Connection
            </a>
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
        {route !== "analyze" && shown && active && (
          <a className="job-banner" href="#/">
            <StatusBadge status={shown.status} /> Analysis {shown.progress}% — {shown.message} <span>View →</span>
          </a>
        )}

        {route === "analyze" && (
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
                        Connected to <strong>{credentials.account_id}</strong> with token <code>{credentials.access_token}</code>.{" "}
                        <a href="#/connection">Change</a>
                      </>
                    ) : (
                      <>
                        No Facebook account connected. <a href="#/connection">Connect one</a> first (the demo uses token{" "}
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
                      <a href="#/connection">Open the connection form →</a>
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
        {route === "history" && <HistoryPage version={version} live={shown} />}
        {route === "connection" && <ConnectionPage credentials={credentials} onChange={changeCredentials} />}
      </main>
      <footer className="footer muted small">adanalysis · AI analysis of Facebook video ads · <a href="/docs">API docs</a></footer>
    </div>
  );
}
