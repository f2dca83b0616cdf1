import { useCallback, useEffect, useState } from "react";
import { api, ApiError, formatDate, formatDuration, Job } from "./api";
import { outcomeSummary } from "./JobPage";
import { elapsedSeconds, ErrorAction, StatusBadge } from "./JobPanel";
import { Link, navigate } from "./nav";

const PAGE = 20;

/** The button under a cursor-paged list. */
export function LoadMore({ loading, onClick }: { loading: boolean; onClick: () => void }) {
  return (
    <div className="center">
      <button className="btn ghost" onClick={onClick} disabled={loading}>
        {loading ? "Loading…" : "Load more"}
      </button>
    </div>
  );
}

/** Pages of items with an X-Next-Before cursor, reloaded when `version` changes. */
export function useCursorList<T>(
  load: (before: string | null) => Promise<{ items: T[]; next: string | null }>,
  version: number,
  key = "",
) {
  const [items, setItems] = useState<T[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setLoading(true);
    load(null)
      .then((p) => {
        if (!live) return;
        setItems(p.items);
        setNext(p.next);
        setError(null);
      })
      .catch((e) => live && setError(e instanceof ApiError ? e.message : String(e)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [version, key]);

  const more = useCallback(async () => {
    if (!next) return;
    setLoading(true);
    try {
      const p = await load(next);
      setItems((old) => [...(old ?? []), ...p.items]);
      setNext(p.next);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setLoading(false);
    }
  }, [load, next]);

  return { items, next, loading, error, more };
}

const loadJobs = (before: string | null) => api.jobs({ limit: PAGE, before });

export function HistoryPage({ version, live }: { version: number; live: Job | null }) {
  const { items, next, loading, error, more } = useCursorList(loadJobs, version);

  return (
    <section className="card">
      <div className="section-head">
        <h1>Job history</h1>
        <span className="muted small">Newest first</span>
      </div>
      {error && <div className="alert error">{error}</div>}
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="empty">No analyses started yet. <Link to="/">Start one</Link>.</p>
      ) : (
        <div className="table-wrap">
          <table className="jobs stack" data-testid="job-history">
            <thead>
              <tr>
                <th>Started</th>
                <th>Status</th>
                <th>Account</th>
                <th>Videos</th>
                <th className="num">Duration</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {items.map((row) => {
                const job = live && live._id === row._id ? { ...row, ...live } : row;
                const accounts = job.parameters?.account_ids?.length
                  ? job.parameters.account_ids.join(", ")
                  : (job.parameters?.account_id ?? "—");
                return (
                  <tr
                    key={job._id}
                    data-job-id={job._id}
                    data-status={job.status}
                    className="clickable"
                    onClick={(e) => {
                      if (!(e.target as HTMLElement).closest("a,button")) navigate(`/jobs/${job._id}`);
                    }}
                  >
                    <td className="nowrap" data-label="Started">
                      <Link to={`/jobs/${job._id}`} className="row-link">
                        {formatDate(job.created_at)}
                      </Link>
                    </td>
                    <td className="nowrap" data-label="Status">
                      <StatusBadge status={job.status} />
                      {(job.status === "running" || job.status === "pending") && (
                        <span className="muted small"> {job.progress}%</span>
                      )}
                    </td>
                    <td className="mono small" data-label="Account">{accounts}</td>
                    <td data-label="Videos" data-testid="job-outcome">{outcomeSummary(job) ?? "—"}</td>
                    <td className="num nowrap" data-label="Duration">{job.completed_at ? formatDuration(elapsedSeconds(job, Date.now())) : "—"}</td>
                    <td className="msg" data-label="Message">
                      {job.status === "failed" && job.error_message ? (
                        <>
                          <span className="text-error">{job.error_message}</span> <ErrorAction code={job.error_code} message={job.error_message} />
                        </>
                      ) : (
                        job.message
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {next && <LoadMore loading={loading} onClick={more} />}
    </section>
  );
}
