import { useEffect, useState } from "react";
import { errorLink, FINAL_STATUSES, formatDuration, Job, parseTime } from "./api";
import { Link } from "./nav";
import type { Transport } from "./useJobWatcher";

export const STATUS_LABEL: Record<string, string> = {
  pending: "Queued",
  running: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge status-${status}`}>{STATUS_LABEL[status] ?? status}</span>;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(t);
  }, [active]);
  return now;
}

export function elapsedSeconds(job: Job, now: number): number | null {
  const final = FINAL_STATUSES.includes(job.status);
  if (final && job.actual_duration_seconds != null) return job.actual_duration_seconds;
  const start = parseTime(job.started_at) ?? parseTime(job.created_at);
  if (start === null) return null;
  const end = final ? (parseTime(job.completed_at) ?? now) : now;
  return Math.max(0, (end - start) / 1000);
}

interface Props {
  job: Job;
  transport: Transport;
  watchError: string | null;
  cancelling: boolean;
  onCancel: () => void;
  onDismiss: () => void;
}

export function JobPanel({ job, transport, watchError, cancelling, onCancel, onDismiss }: Props) {
  const final = FINAL_STATUSES.includes(job.status);
  const now = useNow(!final);
  const progress = Math.max(0, Math.min(100, Math.round(job.progress ?? 0)));
  const elapsed = elapsedSeconds(job, now);
  const accounts = job.parameters?.account_ids?.length
    ? job.parameters.account_ids.join(", ")
    : job.parameters?.account_id;

  return (
    <div className={`job-panel status-${job.status}`} data-testid="job-panel" data-status={job.status}>
      <div className="job-head">
        <div>
          <StatusBadge status={job.status} />
          <span className="job-title">Ad analysis{accounts ? ` · ${accounts}` : ""}</span>
        </div>
        <span className="muted small mono" title="Job id">
          {job._id}
        </span>
      </div>

      <div
        className="progress"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={progress}
        aria-label="Analysis progress"
      >
        <div className="progress-fill" style={{ width: `${progress}%` }} />
      </div>

      <div className="job-line">
        <span className="job-message" data-testid="job-message">
          {job.message || (job.status === "pending" ? "Waiting to start…" : "")}
        </span>
        <span className="job-percent" data-testid="job-progress">
          {progress}%
        </span>
      </div>

      {job.status === "failed" && job.error_message && (
        <div className="alert error" role="alert" data-testid="job-error">
          {job.error_message} <ErrorAction code={job.error_code} message={job.error_message} />
        </div>
      )}
      {watchError && <div className="alert warn">{watchError}</div>}

      <div className="job-foot">
        <span className="muted small">
          Elapsed {formatDuration(elapsed)}
          {job.estimated_duration_seconds ? ` · estimate ~${formatDuration(job.estimated_duration_seconds)}` : ""}
          {job.status === "completed" && job.result_count != null ? ` · ${job.result_count} analysed` : ""}
          {!final && transport !== "idle" && (
            <span className="live" title={transport === "socket" ? "Live updates" : "Checking every 2 seconds"}>
              {transport === "socket" ? "● live" : "● polling"}
            </span>
          )}
        </span>
        <span className="row">
          {!final ? (
            <button className="btn ghost danger" onClick={onCancel} disabled={cancelling || !!job.cancel_requested_at}>
              {cancelling || job.cancel_requested_at ? "Cancelling…" : "Cancel"}
            </button>
          ) : (
            <>
              <Link className="btn ghost" to={`/jobs/${job._id}`}>
                Details
              </Link>
              <button className="btn ghost" onClick={onDismiss}>
                Dismiss
              </button>
            </>
          )}
        </span>
      </div>
    </div>
  );
}

/** The link that fixes what an error is about (an expired token: the connection form). */
export function ErrorAction({ code, message }: { code?: string | null; message?: string | null }) {
  const link = errorLink(code, message);
  return link ? <Link to={link.href}>{link.label} →</Link> : null;
}
