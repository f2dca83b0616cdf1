import { FormEvent, useEffect, useState } from "react";
import { HOOK_TYPES, hookLabel, ListQuery, SortKey } from "./api";

const SORTS: { value: SortKey; label: string }[] = [
  { value: "date", label: "Date analysed" },
  { value: "score", label: "Score" },
  { value: "spend", label: "Spend" },
  { value: "hook_rate", label: "Hook rate" },
];

/** The view's filters live in the address (?hook_type=question&sort=score), so a link keeps them. */
export function useListQuery(): [ListQuery, (q: ListQuery) => void] {
  const read = (): ListQuery => Object.fromEntries(new URLSearchParams(location.search)) as ListQuery;
  const [query, setQuery] = useState<ListQuery>(read);
  useEffect(() => {
    const on = () => setQuery(read());
    window.addEventListener("popstate", on);
    return () => window.removeEventListener("popstate", on);
  }, []);
  const update = (q: ListQuery) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v) params.set(k, String(v));
    const search = params.toString();
    history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
    setQuery(q);
  };
  return [query, update];
}

interface Props {
  query: ListQuery;
  onChange: (q: ListQuery) => void;
  onExport: () => void;
  exporting: boolean;
  label: string;
}

/** Filter, search, sort and export the list shown below it. */
export function FilterBar({ query, onChange, onExport, exporting, label }: Props) {
  const [draft, setDraft] = useState<ListQuery>(query);
  useEffect(() => setDraft(query), [query]);
  const set = (k: keyof ListQuery, v: string) => setDraft((d) => ({ ...d, [k]: v }));
  const apply = (e: FormEvent) => {
    e.preventDefault();
    onChange(draft);
  };
  const setNow = (k: keyof ListQuery, v: string) => {
    const next = { ...draft, [k]: v };
    setDraft(next);
    onChange(next);
  };
  // On a phone the form would fill the screen: it starts folded there.
  const [open, setOpen] = useState(() => !window.matchMedia?.("(max-width: 700px)").matches || Object.values(query).some(Boolean));
  return (
    <details className="card filters-box" open={open} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>Filter, sort and export</summary>
    <form className="filters" onSubmit={apply} aria-label={`Filter ${label}`} role="search">
      <label className="grow">
        Search transcripts
        <input name="q" type="search" placeholder="e.g. free shipping" value={draft.q ?? ""} onChange={(e) => set("q", e.target.value)} />
      </label>
      <label>
        Hook type
        <select name="hook_type" value={draft.hook_type ?? ""} onChange={(e) => setNow("hook_type", e.target.value)}>
          <option value="">Any</option>
          {HOOK_TYPES.map((t) => (
            <option key={t} value={t}>
              {hookLabel(t)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Offer
        <select name="has_offer" value={draft.has_offer ?? ""} onChange={(e) => setNow("has_offer", e.target.value)}>
          <option value="">Any</option>
          <option value="true">With an offer</option>
          <option value="false">Without</option>
        </select>
      </label>
      <label className="narrow">
        Score from
        <input name="min_score" type="number" min={0} max={100} inputMode="numeric" value={draft.min_score ?? ""} onChange={(e) => set("min_score", e.target.value)} />
      </label>
      <label className="narrow">
        to
        <input name="max_score" type="number" min={0} max={100} inputMode="numeric" value={draft.max_score ?? ""} onChange={(e) => set("max_score", e.target.value)} />
      </label>
      <label>
        Ad account
        <input name="account_id" placeholder="act_…" value={draft.account_id ?? ""} onChange={(e) => set("account_id", e.target.value)} />
      </label>
      <label>
        Sort by
        <select name="sort" value={draft.sort ?? "date"} onChange={(e) => setNow("sort", e.target.value)}>
          {SORTS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Order
        <select name="order" value={draft.order ?? "desc"} onChange={(e) => setNow("order", e.target.value)}>
          <option value="desc">Highest / newest first</option>
          <option value="asc">Lowest / oldest first</option>
        </select>
      </label>
      <div className="filter-actions">
        <button className="btn primary" type="submit">
          Apply
        </button>
        <button className="btn ghost" type="button" onClick={() => onChange({})}>
          Clear
        </button>
        <button className="btn ghost" type="button" onClick={onExport} disabled={exporting}>
          {exporting ? "Exporting…" : "Export CSV"}
        </button>
      </div>
      {query.job_id && (
        <p className="small muted full">
          Only job <span className="mono">{query.job_id}</span>.{" "}
          <button type="button" className="link" onClick={() => setNow("job_id", "")}>
            Show all jobs
          </button>
        </p>
      )}
    </form>
    </details>
  );
}

/** Export the current view, with any failure said in words. */
export function useExport(run: () => Promise<void>): { exporting: boolean; exportError: string | null; doExport: () => void } {
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);
  const doExport = () => {
    setExporting(true);
    setExportError(null);
    run()
      .catch((e) => setExportError(`The export failed: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => setExporting(false));
  };
  return { exporting, exportError, doExport };
}
