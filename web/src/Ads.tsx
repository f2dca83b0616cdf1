import { useCallback } from "react";
import { Ad, api, formatCount, formatMoney, formatPercent, hookLabel } from "./api";
import { FilterBar, useExport, useListQuery } from "./Filters";
import { LoadMore, useCursorList } from "./History";
import { Link } from "./nav";

interface Group {
  key: string;
  ads: Ad[];
}

/** Ads that share a video together, groups in the order their first ad comes in the list. */
export function groupByVideo(ads: Ad[]): Group[] {
  const groups = new Map<string, Group>();
  for (const ad of ads) {
    const key = ad.video_id ?? "";
    if (!groups.has(key)) groups.set(key, { key, ads: [] });
    groups.get(key)!.ads.push(ad);
  }
  return [...groups.values()];
}

function clock(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function VideoGroup({ group }: { group: Group }) {
  const a = group.ads[0].analysis;
  const title = a?.title ?? (group.key ? `Video ${group.key}` : "Ads without a video");
  return (
    <article className="card ad-group" data-testid="ad-group" aria-label={title}>
      <div className="analysis-head">
        <div className="analysis-title">
          <h3>{a ? <Link to={`/analyses/${a._id}`}>{title}</Link> : title}</h3>
          {a ? (
            <p className="muted small">
              {a.hook_type && <span className="chip">{hookLabel(a.hook_type)} hook</span>}
              {a.words_per_minute != null && <>{Math.round(a.words_per_minute)} words/min · </>}
              CTA at {clock(a.cta_seconds)} · {a.has_offer ? "with an offer" : "no offer"}
            </p>
          ) : (
            <p className="muted small">{group.key ? "No analysis of this video: it is new, or it could not be analysed (the job’s page says why)." : "Image or carousel ads: nothing to transcribe."}</p>
          )}
          {a?.hook_text && <p className="hook small">“{a.hook_text}”</p>}
        </div>
        {a?.score != null && (
          <div className={`score ${a.score >= 70 ? "good" : a.score >= 45 ? "ok" : "low"}`} title="Analysis score (0–100)">
            {a.score}
            <span>score</span>
          </div>
        )}
      </div>
      <div className="table-wrap">
        <table className="jobs stack ads-table">
          <thead>
            <tr>
              <th>Ad</th>
              <th>Status</th>
              <th className="num">Spend</th>
              <th className="num">Impressions</th>
              <th className="num">CTR</th>
              <th className="num" title="3-second plays ÷ impressions">
                Hook rate
              </th>
              <th className="num" title="ThruPlays ÷ impressions">
                Hold rate
              </th>
            </tr>
          </thead>
          <tbody>
            {group.ads.map((ad) => {
              const p = ad.performance;
              return (
                <tr key={ad._id} data-testid="ad-row" data-ad-id={ad.ad_id}>
                  <td data-label="Ad">
                    {ad.ad_name}
                    <span className="muted small mono block">{ad.ad_id}</span>
                  </td>
                  <td data-label="Status">{ad.status ? <span className="badge neutral">{ad.status.toLowerCase()}</span> : "—"}</td>
                  <td data-label="Spend" className="num">
                    {formatMoney(p?.spend, p?.currency)}
                  </td>
                  <td data-label="Impressions" className="num">
                    {formatCount(p?.impressions)}
                  </td>
                  <td data-label="CTR" className="num">
                    {p?.ctr == null ? "—" : `${p.ctr.toFixed(2)}%`}
                  </td>
                  <td data-label="Hook rate" className="num" data-testid="hook-rate">
                    {formatPercent(p?.hook_rate)}
                  </td>
                  <td data-label="Hold rate" className="num">
                    {formatPercent(p?.hold_rate)}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </article>
  );
}

export function AdsPage({ version }: { version: number }) {
  const [query, setQuery] = useListQuery();
  const load = useCallback((before: string | null) => api.ads({ ...query, limit: 100, before }), [query]);
  const { items, next, loading, error, more } = useCursorList(load, version, JSON.stringify(query));
  const { exporting, exportError, doExport } = useExport(() => api.exportAds(query));
  const period = items?.[0]?.performance?.date_start
    ? `${items[0].performance.date_start} – ${items[0].performance.date_stop}`
    : items?.[0]?.period.replace("last_", "last ").replace("d", " days");
  return (
    <section aria-labelledby="ads-title">
      <div className="section-head">
        <h1 id="ads-title">Ads and how they perform</h1>
        {period && <span className="muted small">Performance over {period}</span>}
      </div>
      <FilterBar query={query} onChange={setQuery} onExport={doExport} exporting={exporting} label="ads" />
      {(error || exportError) && <div className="alert error">{error ?? exportError}</div>}
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <div className="card empty">
          {Object.values(query).some(Boolean) ? "No ad matches these filters." : <>No ads yet: <Link to="/">run an analysis</Link> to fetch your ads and their performance.</>}
        </div>
      ) : (
        groupByVideo(items).map((g) => <VideoGroup key={g.key || "none"} group={g} />)
      )}
      {next && <LoadMore loading={loading} onClick={more} />}
    </section>
  );
}
