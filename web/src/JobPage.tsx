import { useEffect, useState } from "react";
import { api, ApiError, FINAL_STATUSES, formatDate, formatDuration, Job, JobResult } from "./api";
import { ErrorAction, StatusBadge } from "./JobPanel";
import { Link } from "./nav";

const OUTCOME: Record<string, string> = {
  analyzed: "Analysed",
  skipped: "Already analysed",
  failed: "Could not be analysed",
  warning: "Warning",
};

// What a person can do about each kind of per-video failure.
const ADVICE: Record<string, string> = {
  video_unavailable: "Facebook no longer offers this video for download. Nothing to do unless the ad should still have it.",
  media_error: "The file could not be read as a video. Re-upload the video to the ad, then run the analysis again.",
  transcription_failed: "Running the analysis again retries this video.",
  analysis_failed: "Running the analysis again retries this video.",
  network_timeout: "The download kept timing out. Run the analysis again later.",
};

/** "9 already analysed, 0 new" and the like, from a job's results or its summary. */
export function outcomeSummary(job: Job): string | null {
  const counts: Record<string, number> = { ...(job.result_summary ?? {}) };
  if (!job.result_summary && job.results) {
    for (const r of job.results) counts[r.status] = (counts[r.status] ?? 0) + 1;
  }
  const analysed = counts.analyzed ?? 0;
  const skipped = counts.skipped ?? 0;
  const failed = counts.failed ?? 0;
  if (!analysed && !skipped && !failed) return null;
  const parts = [];
  if (skipped) parts.push(`${skipped} already analysed`);
  parts.push(`${analysed} new`);
  if (failed) parts.push(`${failed} failed`);
  return parts.join(", ");
}

function adNames(r: JobResult): string {
  if (r.ad_names?.length) return r.ad_names.join(", ");
  if (r.ad_ids?.length) return `Ad ${r.ad_ids.join(", ")}`;
  return r.video_id ? `Video ${r.video_id}` : "";
}

function Outcome({ r }: { r: JobResult }) {
  if (r.status === "analyzed" || r.status === "skipped") {
    return r.analysis_id ? <Link to={`/analyses/${r.analysis_id}`}>Open its analysis →</Link> : null;
  }
  return (
    <>
      <span className="text-error">{r.error}</span>
      {r.code && ADVICE[r.code] && <span className="muted small block">{ADVICE[r.code]}</span>}
      <ErrorAction code={r.code} message={r.error} />
    </>
  );
}

export function JobPage({ jobId, live }: { jobId: string; live: Job | null }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const liveStatus = live?.status;

  useEffect(() => {
    let stop = false;
    api
      .jobStatus(jobId)
      .then((j) => !stop && setJob(j))
      .catch((e) => !stop && setError(e instanceof ApiError && e.status === 404 ? "This job does not exist, or it belongs to another account." : String(e instanceof Error ? e.message : e)));
    return () => {
      stop = true;
    };
  }, [jobId, liveStatus]);

  if (error)
    return (
      <section className="card">
        <h1>Job</h1>
        <div className="alert error">
          {error} <Link to="/history">Back to the history →</Link>
        </div>
      </section>
    );
  if (!job) return <p className="muted">Loading…</p>;
  const shown = live ? { ...job, ...live, results: live.results ?? job.results } : job;
  const results = (shown.results ?? []) as JobResult[];
  const videos = results.filter((r) => r.status !== "warning");
  const warnings = results.filter((r) => r.status === "warning");
  const summary = outcomeSummary(shown);
  const accounts = shown.parameters?.account_ids?.length ? shown.parameters.account_ids.join(", ") : shown.parameters?.account_id;
  const order = { failed: 0, analyzed: 1, skipped: 2 } as Record<string, number>;
  videos.sort((a, b) => (order[a.status] ?? 3) - (order[b.status] ?? 3));

  return (
    <section className="card" data-testid="job-page" data-status={shown.status}>
      <div className="section-head">
        <h1>
          Ad analysis <StatusBadge status={shown.status} />
        </h1>
        <Link to="/history">← History</Link>
      </div>
      <p className="muted small mono">Job {shown._id}</p>
      <dl className="facts">
        <div>
          <dt>Ad account</dt>
          <dd>{accounts ?? "—"}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatDate(shown.started_at ?? shown.created_at)}</dd>
        </div>
        <div>
          <dt>Ended</dt>
          <dd>{FINAL_STATUSES.includes(shown.status) ? formatDate(shown.completed_at) : `Running, ${shown.progress}%`}</dd>
        </div>
        <div>
          <dt>Took</dt>
          <dd>
            {formatDuration(shown.actual_duration_seconds)}
            {shown.estimated_duration_seconds ? <span className="muted"> (estimate {formatDuration(shown.estimated_duration_seconds)})</span> : null}
          </dd>
        </div>
        <div>
          <dt>Videos</dt>
          <dd data-testid="job-counts">{summary ?? "none"}</dd>
        </div>
      </dl>
      <p>{shown.message}</p>
      {shown.status === "failed" && shown.error_message && (
        <div className="alert error" role="alert">
          {shown.error_message} <ErrorAction code={shown.error_code} message={shown.error_message} />
        </div>
      )}
      {warnings.map((w, i) => (
        <div className="alert warn" key={i}>
          {w.stage === "performance" ? "Ad performance could not be fetched: " : ""}
          {w.error}
        </div>
      ))}
      {videos.length > 0 ? (
        <div className="table-wrap">
          <table className="jobs stack" data-testid="job-videos">
            <thead>
              <tr>
                <th>Ads</th>
                <th>Outcome</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {videos.map((r, i) => (
                <tr key={`${r.video_id}-${i}`} data-outcome={r.status}>
                  <td data-label="Ads">
                    {adNames(r)}
                    {r.video_id && <span className="muted small mono block">video {r.video_id}</span>}
                  </td>
                  <td data-label="Outcome" className="nowrap">
                    <span className={`badge outcome-${r.status}`}>{OUTCOME[r.status] ?? r.status}</span>
                  </td>
                  <td data-label="Details">
                    <Outcome r={r} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="empty">{FINAL_STATUSES.includes(shown.status) ? "This job had no video to look at." : "Videos appear here as they are done."}</p>
      )}
    </section>
  );
}
