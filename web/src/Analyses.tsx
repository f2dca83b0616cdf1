import { useState } from "react";
import { Analysis, api, formatDate, Insights } from "./api";
import { LoadMore, useCursorList } from "./History";

const loadAnalyses = (before: string | null) => api.analyses({ limit: 20, before });

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

function AnalysisCard({ a }: { a: Analysis }) {
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
          <h3>{names[0]}</h3>
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
      <InsightsView ins={ins} />
      <details className="transcript">
        <summary>Transcript</summary>
        <p>{a.transcript || <span className="muted">No speech detected.</span>}</p>
      </details>
    </article>
  );
}

export function AnalysesList({ version }: { version: number }) {
  const { items, next, loading, error, more } = useCursorList(loadAnalyses, version);
  return (
    <section>
      <div className="section-head">
        <h2>Analysed videos</h2>
        {items && items.length > 0 && <span className="muted small">{items.length}{next ? "+" : ""} videos</span>}
      </div>
      {error && <div className="alert error">{error}</div>}
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <div className="card empty">No analysed videos yet. Start an analysis to see each video ad’s insights here.</div>
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
