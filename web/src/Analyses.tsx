import { useCallback, useEffect, useState } from "react";
import { Analysis, api, ApiError, formatCount, formatDate, formatMoney, formatPercent, Insights, Performance } from "./api";
import { FilterBar, useExport, useListQuery } from "./Filters";
import { LoadMore, useCursorList } from "./History";
import { Link, navigate } from "./nav";

function clock(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined) return null;
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const has = (list: string[] | null | undefined): list is string[] => !!list && list.length > 0;

function List({ title, items, tone }: { title: string; items: string[] | null | undefined; tone?: string }) {
  if (!has(items)) return null;
  return (
    <div className={`insight-list ${tone ?? ""}`}>
      <h4>{title}</h4>
      <ul>
        {items.map((item, i) => (
          <li key={i}>{item}</li>
        ))}
      </ul>
    </div>
  );
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  if (children === null || children === undefined || children === "" || children === false) return null;
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function scoreClass(score: number): string {
  if (score >= 70) return "good";
  if (score >= 45) return "ok";
  return "low";
}

function InsightsView({ ins }: { ins: Insights }) {
  const cta = ins.call_to_action;
  const tone = ins.emotional_tone;
  const more =
    has(ins.pain_points) || has(ins.benefits) || has(ins.social_proof) || has(ins.score_reasons) || (ins.evidence?.length ?? 0) > 0;
  return (
    <>
      {ins.hook?.text && (
        <blockquote className="hook">
          {ins.hook.type && <span className="chip">{ins.hook.type.replace(/_/g, " ")} hook</span>}“{ins.hook.text}”
        </blockquote>
      )}
      <dl className="facts compact">
        <Fact label="Core message">{ins.core_message}</Fact>
        <Fact label="Offer">{ins.offer}</Fact>
        <Fact label="Call to action">
          {cta?.text ? (
            <>
              {cta.text}
              {clock(cta.timestamp_seconds) && <span className="muted"> at {clock(cta.timestamp_seconds)}</span>}
            </>
          ) : null}
        </Fact>
        <Fact label="Urgency">{ins.urgency}</Fact>
        <Fact label="Tone">
          {tone?.label ? (
            <>
              {tone.label}
              {tone.score != null && <span className="muted"> ({tone.score.toFixed(2)})</span>}
            </>
          ) : null}
        </Fact>
        <Fact label="Pacing">
          {ins.words_per_minute != null ? `${Math.round(ins.words_per_minute)} words/min` : null}
        </Fact>
        <Fact label="Speech in first 5 s">
          {ins.speech_in_first_5s == null ? null : ins.speech_in_first_5s ? "Yes" : "No"}
        </Fact>
      </dl>
      <div className="insight-grid">
        <List title="Strengths" items={ins.strengths} tone="pos" />
        <List title="Weaknesses" items={ins.weaknesses} tone="neg" />
        <List title="Suggestions" items={ins.suggestions} tone="tip" />
      </div>
      {more && (
        <details className="more">
          <summary>More insights</summary>
          <div className="insight-grid">
            <List title="Pain points" items={ins.pain_points} />
            <List title="Benefits" items={ins.benefits} />
            <List title="Social proof" items={ins.social_proof} />
            <List title="Why this score" items={ins.score_reasons} />
          </div>
          {(ins.evidence?.length ?? 0) > 0 && (
            <div className="insight-list">
              <h4>Evidence</h4>
              <ul className="evidence">
                {ins.evidence!.map((ev, i) => (
                  <li key={i}>
                    {clock(ev.timestamp_seconds) && <span className="ts">{clock(ev.timestamp_seconds)}</span>}“{ev.quote}”
                  </li>
                ))}
              </ul>
            </div>
          )}
        </details>
      )}
    </>
  );
}

/** Delivery figures beside the creative insights. */
export function PerformanceFacts({ p, label }: { p: Performance | null | undefined; label?: string }) {
  if (!p) return <p className="muted small">No delivery in the performance period.</p>;
  return (
    <dl className="perf" aria-label={label ?? "Performance"} data-testid="performance">
      <div>
        <dt>Spend</dt>
        <dd>{formatMoney(p.spend, p.currency)}</dd>
      </div>
      <div>
        <dt>Impressions</dt>
        <dd>{formatCount(p.impressions)}</dd>
      </div>
      <div>
        <dt>CTR</dt>
        <dd>{p.ctr == null ? "—" : `${p.ctr.toFixed(2)}%`}</dd>
      </div>
      <div>
        <dt title="3-second plays ÷ impressions">Hook rate</dt>
        <dd>{formatPercent(p.hook_rate)}</dd>
      </div>
      <div>
        <dt title="ThruPlays ÷ impressions">Hold rate</dt>
        <dd>{formatPercent(p.hold_rate)}</dd>
      </div>
    </dl>
  );
}

export function AnalysisCard({ a }: { a: Analysis }) {
  const [imgFailed, setImgFailed] = useState(false);
  const ins = a.insights ?? {};
  const names = a.ad_names.length ? a.ad_names : [a.title ?? `Video ${a.video_id}`];
  return (
    <article className="card analysis" data-testid="analysis-card">
      <div className="analysis-head">
        <div className="thumb">
          {a.thumbnail_url && !imgFailed ? (
            <img src={a.thumbnail_url} alt="" loading="lazy" onError={() => setImgFailed(true)} />
          ) : (
            <span className="thumb-placeholder">▶</span>
          )}
        </div>
        <div className="analysis-title">
          <h3>
            <Link to={`/analyses/${a._id}`}>{names[0]}</Link>
          </h3>
          {names.length > 1 && <p className="muted small">Also in: {names.slice(1).join(", ")}</p>}
          <p className="muted small">
            {clock(a.duration_seconds) && <>{clock(a.duration_seconds)} · </>}
            {a.account_id} · {formatDate(a.created_at)}
            {a.language && <> · {a.language}</>}
          </p>
        </div>
        {ins.score != null && (
          <div className={`score ${scoreClass(ins.score)}`} title="Overall effectiveness (0–100)">
            {ins.score}
            <span>score</span>
          </div>
        )}
      </div>
      {a.performance !== undefined && <PerformanceFacts p={a.performance} label={`Performance of ${names[0]}`} />}
      <InsightsView ins={ins} />
      <details className="transcript">
        <summary>Transcript</summary>
        <p>{a.transcript || <span className="muted">No speech detected.</span>}</p>
      </details>
    </article>
  );
}

export function AnalysesList({ version }: { version: number }) {
  const [query, setQuery] = useListQuery();
  const load = useCallback((before: string | null) => api.analyses({ ...query, limit: 20, before }), [query]);
  const { items, next, loading, error, more } = useCursorList(load, version, JSON.stringify(query));
  const { exporting, exportError, doExport } = useExport(() => api.exportAnalyses(query));
  const filtered = Object.values(query).some(Boolean);
  return (
    <section aria-labelledby="analyses-title">
      <div className="section-head">
        <h2 id="analyses-title">Analysed videos</h2>
        {items && items.length > 0 && (
          <span className="muted small" data-testid="analyses-count">
            {items.length}
            {next ? "+" : ""} videos
          </span>
        )}
      </div>
      <FilterBar query={query} onChange={setQuery} onExport={doExport} exporting={exporting} label="analysed videos" />
      {(error || exportError) && <div className="alert error">{error ?? exportError}</div>}
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <div className="card empty">
          {filtered ? "No analysed video matches these filters." : "No analysed videos yet. Start an analysis to see each video ad’s insights here."}
        </div>
      ) : (
        <div className="analyses">
          {items.map((a) => (
            <AnalysisCard key={a._id} a={a} />
          ))}
        </div>
      )}
      {next && <LoadMore loading={loading} onClick={more} />}
    </section>
  );
}

export function AnalysisPage({ analysisId }: { analysisId: string }) {
  const [analysis, setAnalysis] = useState<Analysis | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api
      .analysis(analysisId)
      .then(setAnalysis)
      .catch((e) => setError(e instanceof ApiError && e.status === 404 ? "This analysis does not exist, or it belongs to another account." : String(e)));
  }, [analysisId]);
  const remove = async () => {
    if (!window.confirm("Delete this analysis? This cannot be undone.")) return;
    try {
      await api.deleteAnalysis(analysisId);
      navigate("/");
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };
  return (
    <section>
      <div className="section-head">
        <h1>Video analysis</h1>
        <Link to="/">← All analysed videos</Link>
      </div>
      {error && <div className="alert error">{error}</div>}
      {analysis ? <AnalysisCard a={analysis} /> : !error && <p className="muted">Loading…</p>}
      {analysis?.job_id && (
        <p className="small muted">
          Made by <Link to={`/jobs/${analysis.job_id}`}>this job</Link>.
        </p>
      )}
      {analysis && (
        <button className="btn danger small" onClick={() => void remove()}>
          Delete this analysis
        </button>
      )}
    </section>
  );
}
