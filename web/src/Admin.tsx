// The admin page: job metrics as charts, and the live list of active jobs with a cancel.
import { useCallback, useEffect, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { ActiveJob, api, ApiError, formatDate, formatDuration, formatPercent, JobMetrics, MetricsRange } from "./api";
import { StatusBadge } from "./JobPanel";
import { Link } from "./nav";

const RANGES: MetricsRange[] = ["24h", "7d", "30d", "90d"];
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
// The live list is re-read this often (ms).
const ACTIVE_REFRESH_MS = 3000;

function bucketLabel(le: number | null, previous: number | null): string {
  if (le === null) return `≥ ${formatDuration(previous)}`;
  return `< ${formatDuration(le)}`;
}

// Seconds per video are often under a few seconds: keep one decimal there.
function perVideo(seconds: number | null): string {
  return seconds !== null && seconds < 10 ? `${seconds.toFixed(1)}s` : formatDuration(seconds);
}

export function AdminPage() {
  const [range, setRange] = useState<MetricsRange>("7d");
  const [metrics, setMetrics] = useState<JobMetrics | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setError(null);
    api
      .jobMetrics(range)
      .then((m) => live && setMetrics(m))
      .catch((e) => live && setError(e instanceof ApiError ? e.message : String(e)));
    return () => {
      live = false;
    };
  }, [range]);

  return (
    <section className="admin" data-testid="admin-page">
      <div className="section-head">
        <h2>Operations</h2>
        <label className="small">
          Range{" "}
          <select aria-label="Range" value={range} onChange={(e) => setRange(e.target.value as MetricsRange)}>
            {RANGES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <ActiveJobs />
      {metrics && <Metrics metrics={metrics} />}
    </section>
  );
}

function Metrics({ metrics: m }: { metrics: JobMetrics }) {
  const buckets = m.durations.buckets.map((b, i) => ({
    label: bucketLabel(b.le_seconds, i > 0 ? m.durations.buckets[i - 1].le_seconds : null),
    jobs: b.count,
  }));
  const stages = m.stages.map((s) => ({ stage: s.stage, seconds: s.average_ms / 1000, runs: s.count }));
  const success = m.engagement.map((d) => ({ day: d.day.slice(5), rate: d.success_rate === null ? null : d.success_rate * 100 }));
  return (
    <>
      <div className="stats" data-testid="success-rates">
        <Stat label="Success, last day" value={formatPercent(m.success.day.rate)} />
        <Stat label="Success, last week" value={formatPercent(m.success.week.rate)} />
        <Stat label="Success, last 30 days" value={formatPercent(m.success.month.rate)} />
        <Stat label="Average duration" value={formatDuration(m.durations.average_seconds)} />
        <Stat label="p95 duration" value={formatDuration(m.durations.p95_seconds)} />
        <Stat label="Per video" value={perVideo(m.durations.seconds_per_video)} />
        <Stat label="Active users" value={String(m.active_users)} />
        <Stat
          label="Queue"
          value={`${m.queue.pending} pending · ${m.queue.running} running`}
          hint={m.queue.oldest_pending_age_seconds !== null ? `oldest waits ${formatDuration(m.queue.oldest_pending_age_seconds)}` : undefined}
        />
      </div>

      <div className="chart-grid">
        <Chart title="Success rate per day" testId="chart-success">
          <LineChart data={success}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="day" />
            <YAxis domain={[0, 100]} unit="%" />
            <Tooltip />
            <Line type="monotone" dataKey="rate" name="success %" stroke="#2563eb" connectNulls isAnimationActive={false} />
          </LineChart>
        </Chart>
        <Chart title="Duration of completed jobs" testId="chart-durations">
          <BarChart data={buckets}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="label" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Bar dataKey="jobs" fill="#2563eb" isAnimationActive={false} />
          </BarChart>
        </Chart>
        <Chart title="Average time per stage (s)" testId="chart-stages">
          <BarChart data={stages} layout="vertical" margin={{ left: 8 }}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis type="number" />
            <YAxis type="category" dataKey="stage" width={200} />
            <Tooltip />
            <Bar dataKey="seconds" fill="#16a34a" isAnimationActive={false} />
          </BarChart>
        </Chart>
        <Chart title="Engagement per day" testId="chart-engagement">
          <BarChart data={m.engagement.map((d) => ({ ...d, day: d.day.slice(5) }))}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="day" />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Legend />
            <Bar dataKey="created" fill="#64748b" isAnimationActive={false} />
            <Bar dataKey="completed" stackId="end" fill="#16a34a" isAnimationActive={false} />
            <Bar dataKey="failed" stackId="end" fill="#dc2626" isAnimationActive={false} />
            <Bar dataKey="cancelled" stackId="end" fill="#f59e0b" isAnimationActive={false} />
          </BarChart>
        </Chart>
      </div>

      <HeatMap cells={m.peak_usage} />

      <div className="card" data-testid="error-patterns">
        <h3>Error patterns</h3>
        {m.errors.length === 0 ? (
          <p className="muted">No failures in this range.</p>
        ) : (
          <table className="jobs">
            <thead>
              <tr>
                <th>Error code</th>
                <th>Failures</th>
                <th>Latest</th>
                <th>Example</th>
              </tr>
            </thead>
            <tbody>
              {m.errors.map((e) => (
                <tr key={e.error_code ?? "none"}>
                  <td>
                    <code>{e.error_code ?? "—"}</code>
                  </td>
                  <td>{e.count}</td>
                  <td>{formatDate(e.last_at)}</td>
                  <td>{e.example_message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div className="stat card">
      <div className="muted small">{label}</div>
      <div className="stat-value">{value}</div>
      {hint && <div className="muted small">{hint}</div>}
    </div>
  );
}

function Chart({ title, testId, children }: { title: string; testId: string; children: React.ReactElement }) {
  return (
    <div className="card chart" data-testid={testId}>
      <h3>{title}</h3>
      <ResponsiveContainer width="100%" height={240}>
        {children}
      </ResponsiveContainer>
    </div>
  );
}

function HeatMap({ cells }: { cells: JobMetrics["peak_usage"] }) {
  const counts = new Map(cells.map((c) => [`${c.weekday}:${c.hour}`, c.count]));
  const max = Math.max(1, ...cells.map((c) => c.count));
  return (
    <div className="card" data-testid="chart-heatmap">
      <h3>Jobs started by hour (UTC) and weekday</h3>
      <div className="heatmap" role="table" aria-label="Jobs started by hour and weekday">
        <div className="heat-label" />
        {Array.from({ length: 24 }, (_, h) => (
          <div key={h} className="heat-label small muted">
            {h % 3 === 0 ? h : ""}
          </div>
        ))}
        {WEEKDAYS.map((day, d) => (
          <div key={day} role="row" style={{ display: "contents" }}>
            <div className="heat-label small">{day}</div>
            {Array.from({ length: 24 }, (_, h) => {
              const n = counts.get(`${d}:${h}`) ?? 0;
              return (
                <div
                  key={h}
                  role="cell"
                  className="heat-cell"
                  title={`${day} ${h}:00 — ${n} jobs`}
                  data-count={n}
                  style={{ background: n ? `rgba(37, 99, 235, ${0.15 + (0.85 * n) / max})` : undefined }}
                />
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
}

function ActiveJobs() {
  const [jobs, setJobs] = useState<ActiveJob[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api
      .activeJobs()
      .then((j) => {
        setJobs(j);
        setError(null);
      })
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
  }, []);
  useEffect(() => {
    load();
    const t = window.setInterval(load, ACTIVE_REFRESH_MS);
    return () => window.clearInterval(t);
  }, [load]);

  const cancel = async (id: string) => {
    try {
      await api.adminCancelJob(id);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
    load();
  };

  return (
    <div className="card" data-testid="active-jobs">
      <h3>Active jobs</h3>
      {error && <div className="alert error">{error}</div>}
      {jobs === null ? (
        <p className="muted">Loading…</p>
      ) : jobs.length === 0 ? (
        <p className="muted">No job is pending or running.</p>
      ) : (
        <table className="jobs">
          <thead>
            <tr>
              <th>Job</th>
              <th>User</th>
              <th>Status</th>
              <th>Stage</th>
              <th>Worker</th>
              <th>Heartbeat</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr key={j.id} data-testid="active-job">
                <td>
                  <Link to={`/jobs/${j.id}`}>{j.id.slice(-8)}</Link>
                </td>
                <td>{j.user_email ?? j.user_id}</td>
                <td>
                  <StatusBadge status={j.status} /> {j.progress}%
                </td>
                <td>{j.message}</td>
                <td className="small">{j.worker_id ?? "—"}</td>
                <td>{j.heartbeat_age_seconds === null ? "—" : `${formatDuration(j.heartbeat_age_seconds)} ago`}</td>
                <td>
                  <button className="btn small danger" disabled={j.cancel_requested} onClick={() => void cancel(j.id)}>
                    {j.cancel_requested ? "Cancelling…" : "Cancel"}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
