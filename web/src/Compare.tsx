import { useEffect, useMemo, useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from "recharts";
import { Ad, api, ApiError, Comparison, formatMoney, formatPercent, hookLabel } from "./api";
import { Link } from "./nav";

type XKey = "score" | "words_per_minute" | "cta_seconds";
type YKey = "hook_rate" | "hold_rate" | "ctr";

const X_LABEL: Record<XKey, string> = { score: "Score", words_per_minute: "Words per minute", cta_seconds: "CTA timing (s)" };
const Y_LABEL: Record<YKey, string> = { hook_rate: "Hook rate (%)", hold_rate: "Hold rate (%)", ctr: "CTR (%)" };
const COLORS = ["#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563"];

export interface Row {
  id: string;
  ad: string;
  hook_type: string;
  cta_seconds: number | null;
  words_per_minute: number | null;
  score: number | null;
  hook_rate: number | null;
  hold_rate: number | null;
  ctr: number | null;
  spend: number | null;
  currency: string | null;
  analysis_id: string | null;
}

export function rowsOf(ads: Ad[]): Row[] {
  return ads.map((ad) => ({
    id: ad._id,
    ad: ad.ad_name,
    hook_type: ad.analysis?.hook_type ?? "unknown",
    cta_seconds: ad.analysis?.cta_seconds ?? null,
    words_per_minute: ad.analysis?.words_per_minute ?? null,
    score: ad.analysis?.score ?? null,
    hook_rate: ad.performance?.hook_rate ?? null,
    hold_rate: ad.performance?.hold_rate ?? null,
    // CTR arrives in percent; the chart shows every rate in percent.
    ctr: ad.performance?.ctr != null ? ad.performance.ctr / 100 : null,
    spend: ad.performance?.spend ?? null,
    currency: ad.performance?.currency ?? null,
    analysis_id: ad.analysis?._id ?? null,
  }));
}

type SortCol = keyof Row;

/** Rows by a column, nulls last; numbers as numbers, text alphabetically. */
export function sortRows(rows: Row[], col: SortCol, dir: "asc" | "desc"): Row[] {
  const sign = dir === "asc" ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[col];
    const y = b[col];
    if (x === null && y === null) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    if (typeof x === "number" && typeof y === "number") return (x - y) * sign;
    return String(x).localeCompare(String(y)) * sign;
  });
}

const COLUMNS: { col: SortCol; label: string; num?: boolean; show: (r: Row) => string }[] = [
  { col: "ad", label: "Ad", show: (r) => r.ad },
  { col: "hook_type", label: "Hook", show: (r) => hookLabel(r.hook_type) },
  { col: "cta_seconds", label: "CTA at", num: true, show: (r) => (r.cta_seconds == null ? "—" : `${r.cta_seconds.toFixed(1)} s`) },
  { col: "words_per_minute", label: "Words/min", num: true, show: (r) => (r.words_per_minute == null ? "—" : String(Math.round(r.words_per_minute))) },
  { col: "score", label: "Score", num: true, show: (r) => (r.score == null ? "—" : String(r.score)) },
  { col: "hook_rate", label: "Hook rate", num: true, show: (r) => formatPercent(r.hook_rate) },
  { col: "hold_rate", label: "Hold rate", num: true, show: (r) => formatPercent(r.hold_rate) },
  { col: "ctr", label: "CTR", num: true, show: (r) => formatPercent(r.ctr, 2) },
  { col: "spend", label: "Spend", num: true, show: (r) => formatMoney(r.spend, r.currency) },
];

export function CompareTable({ rows }: { rows: Row[] }) {
  const [sort, setSort] = useState<{ col: SortCol; dir: "asc" | "desc" }>({ col: "hook_rate", dir: "desc" });
  const sorted = useMemo(() => sortRows(rows, sort.col, sort.dir), [rows, sort]);
  const by = (col: SortCol) => setSort((s) => ({ col, dir: s.col === col && s.dir === "desc" ? "asc" : "desc" }));
  return (
    <div className="table-wrap">
      <table className="jobs stack" data-testid="compare-table">
        <caption className="sr-only">Ads with their creative choices and results; select a column heading to sort.</caption>
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <th key={c.col} className={c.num ? "num" : ""} aria-sort={sort.col === c.col ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}>
                <button type="button" className="sort" onClick={() => by(c.col)}>
                  {c.label}
                  <span aria-hidden="true">{sort.col === c.col ? (sort.dir === "asc" ? " ▲" : " ▼") : ""}</span>
                </button>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {sorted.map((r) => (
            <tr key={r.id}>
              {COLUMNS.map((c) => (
                <td key={c.col} className={c.num ? "num" : ""} data-label={c.label}>
                  {c.col === "ad" && r.analysis_id ? <Link to={`/analyses/${r.analysis_id}`}>{r.ad}</Link> : c.show(r)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ComparePage({ version }: { version: number }) {
  const [data, setData] = useState<Comparison | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [x, setX] = useState<XKey>("score");
  const [y, setY] = useState<YKey>("hook_rate");
  useEffect(() => {
    api
      .comparison()
      .then(setData)
      .catch((e) => setError(e instanceof ApiError ? e.message : String(e)));
  }, [version]);

  const rows = useMemo(() => rowsOf(data?.ads ?? []), [data]);
  const types = useMemo(() => [...new Set(rows.map((r) => r.hook_type))].sort(), [rows]);
  const groups = (data?.by_hook_type ?? []).map((g) => ({
    name: hookLabel(g.hook_type),
    hook: g.hook_rate == null ? 0 : +(g.hook_rate * 100).toFixed(1),
    hold: g.hold_rate == null ? 0 : +(g.hold_rate * 100).toFixed(1),
  }));

  return (
    <section aria-labelledby="compare-title">
      <div className="section-head">
        <h1 id="compare-title">What works in your ads</h1>
        {data && <span className="muted small">{rows.length} ads with delivery</span>}
      </div>
      {error && <div className="alert error">{error}</div>}
      {!data && !error && <p className="muted">Loading…</p>}
      {data && rows.length === 0 && (
        <div className="card empty">
          No analysed ad has delivery figures yet. <Link to="/">Run an analysis</Link>: it fetches each ad’s performance too.
        </div>
      )}
      {rows.length > 0 && (
        <>
          <div className="card">
            <h2>Hook and hold rate by hook type</h2>
            <p className="muted small">
              Impression-weighted: hook rate is 3-second plays ÷ impressions, hold rate is ThruPlays ÷ impressions.
            </p>
            <div className="chart" data-testid="hook-type-chart" role="img" aria-label={`Bar chart: ${groups.map((g) => `${g.name} hook rate ${g.hook}%`).join(", ")}`}>
              <ResponsiveContainer width="100%" height={260}>
                <BarChart data={groups} margin={{ top: 8, right: 8, bottom: 8, left: 0 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="name" tick={{ fontSize: 12 }} interval={0} angle={-20} textAnchor="end" height={50} />
                  <YAxis unit="%" width={44} />
                  <Tooltip />
                  <Legend />
                  <Bar dataKey="hook" name="Hook rate" fill="#2563eb" isAnimationActive={false} />
                  <Bar dataKey="hold" name="Hold rate" fill="#059669" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            </div>
          </div>
          <div className="card">
            <div className="section-head wrap">
              <h2>
                {X_LABEL[x]} against {Y_LABEL[y].replace(" (%)", "")}
              </h2>
              <div className="row">
                <label className="inline">
                  Across
                  <select value={x} onChange={(e) => setX(e.target.value as XKey)}>
                    {Object.entries(X_LABEL).map(([k, v]) => (
                      <option key={k} value={k}>
                        {v}
                      </option>
                    ))}
                  </select>
                </label>
                <label className="inline">
                  Up
                  <select value={y} onChange={(e) => setY(e.target.value as YKey)}>
                    {Object.entries(Y_LABEL).map(([k, v]) => (
                      <option key={k} value={k}>
                        {v}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
            </div>
            <div className="chart" data-testid="scatter-chart" role="img" aria-label={`Scatter chart of ${X_LABEL[x]} against ${Y_LABEL[y]}, one dot per ad; the table below has the same figures.`}>
              <ResponsiveContainer width="100%" height={320}>
                <ScatterChart margin={{ top: 8, right: 16, bottom: 24, left: 0 }}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis type="number" dataKey="x" name={X_LABEL[x]} domain={["auto", "auto"]} label={{ value: X_LABEL[x], position: "insideBottom", offset: -12 }} />
                  <YAxis type="number" dataKey="y" name={Y_LABEL[y]} unit="%" width={48} />
                  <Tooltip cursor={{ strokeDasharray: "3 3" }} />
                  <Legend verticalAlign="top" />
                  {types.map((t, i) => (
                    <Scatter
                      key={t}
                      name={hookLabel(t)}
                      fill={COLORS[i % COLORS.length]}
                      isAnimationActive={false}
                      data={rows
                        .filter((r) => r.hook_type === t && r[x] != null && r[y] != null)
                        .map((r) => ({ x: r[x], y: +((r[y] as number) * 100).toFixed(2), ad: r.ad }))}
                    />
                  ))}
                </ScatterChart>
              </ResponsiveContainer>
            </div>
          </div>
          <div className="card">
            <h2>Every ad</h2>
            <CompareTable rows={rows} />
          </div>
        </>
      )}
    </section>
  );
}
