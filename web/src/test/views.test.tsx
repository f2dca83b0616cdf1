import { act, fireEvent, render, renderHook, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { AdsPage, groupByVideo } from "../Ads";
import { Ad, api, ApiError, Comparison, humanMessage, Job } from "../api";
import { routeOf } from "../App";
import { AuthPage } from "../Auth";
import { CompareTable, ComparePage, rowsOf, sortRows } from "../Compare";
import { FilterBar } from "../Filters";
import { HistoryPage } from "../History";
import { JobPage, outcomeSummary } from "../JobPage";
import { stageOf, useJobEndAlerts } from "../Toast";

const page = <T,>(items: T[]) => Promise.resolve({ items, next: null });

const job = (over: Partial<Job> = {}): Job => ({
  _id: "a".repeat(24),
  status: "completed",
  progress: 100,
  message: "Analysis completed successfully! Processed 1 ads.",
  error_message: null,
  created_at: "2026-01-01T10:00:00Z",
  started_at: "2026-01-01T10:00:01Z",
  completed_at: "2026-01-01T10:01:01Z",
  actual_duration_seconds: 60,
  estimated_duration_seconds: 70,
  parameters: { account_id: "act_1" },
  results: [
    { status: "analyzed", video_id: "v1", analysis_id: "b".repeat(24), ad_names: ["Coffee ad"] },
    { status: "skipped", video_id: "v2", analysis_id: "c".repeat(24), ad_names: ["Shoe ad", "Shoe ad 2"] },
    {
      status: "failed",
      video_id: "v3",
      ad_names: ["Removed video"],
      code: "video_unavailable",
      error: "Video v3 has no downloadable source (it may be deleted or restricted).",
    },
    { status: "warning", stage: "performance", error: "Facebook API rate limit exceeded. Please try again in 15 minutes." },
  ],
  ...over,
});

const ad = (over: Partial<Ad> & { id: string }): Ad => ({
  _id: over.id,
  ad_id: `ad-${over.id}`,
  ad_name: `Ad ${over.id}`,
  status: "ACTIVE",
  account_id: "act_1",
  video_id: "v1",
  video_ids: ["v1"],
  period: "last_30d",
  fetched_at: "2026-01-01T10:00:00Z",
  performance: {
    spend: 12.5,
    currency: "USD",
    impressions: 1000,
    clicks: 12,
    ctr: 1.2,
    video_3s_plays: 350,
    thruplays: 90,
    hook_rate: 0.35,
    hold_rate: 0.09,
    date_start: "2025-12-01",
    date_stop: "2025-12-30",
  },
  analysis: {
    _id: "d".repeat(24),
    video_id: "v1",
    title: "Coffee video",
    thumbnail_url: null,
    hook_type: "question",
    hook_text: "Did you know?",
    score: 80,
    has_offer: true,
    words_per_minute: 150,
    cta_seconds: 12,
    job_id: null,
    created_at: "2026-01-01T10:00:00Z",
  },
  ...over,
});

describe("job page", () => {
  it("shows each video's outcome, a failed video's reason and what to do", async () => {
    vi.spyOn(api, "jobStatus").mockResolvedValue(job());
    render(<JobPage jobId={"a".repeat(24)} live={null} />);
    const table = await screen.findByTestId("job-videos");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveAttribute("data-outcome", "failed");
    expect(rows[0]).toHaveTextContent("no downloadable source");
    expect(rows[0]).toHaveTextContent("Facebook no longer offers this video");
    expect(within(rows[1]).getByRole("link", { name: /Open its analysis/ })).toHaveAttribute("href", `/analyses/${"b".repeat(24)}`);
    expect(rows[2]).toHaveTextContent("Already analysed");
    expect(screen.getByTestId("job-counts")).toHaveTextContent("1 already analysed, 1 new, 1 failed");
    expect(screen.getByText(/Ad performance could not be fetched/)).toBeInTheDocument();
    expect(screen.getByText(/estimate 1m 10s/)).toBeInTheDocument();
  });

  it("links an expired token to the connection form", async () => {
    vi.spyOn(api, "jobStatus").mockResolvedValue(
      job({ status: "failed", results: [], error_code: "facebook_invalid_token", error_message: "Invalid Facebook access token. Please update your credentials." }),
    );
    render(<JobPage jobId={"a".repeat(24)} live={null} />);
    const alert = await screen.findByRole("alert");
    expect(within(alert).getByRole("link", { name: /connection form/ })).toHaveAttribute("href", "/connection");
  });

  it("says so in words when the job is someone else's", async () => {
    vi.spyOn(api, "jobStatus").mockRejectedValue(new ApiError(404, "Job not found.", null));
    render(<JobPage jobId="nope" live={null} />);
    expect(await screen.findByText(/belongs to another account/)).toBeInTheDocument();
  });

  it("summarises re-runs as already analysed and new", () => {
    expect(outcomeSummary(job({ results: null, result_summary: { skipped: 9 } }))).toBe("9 already analysed, 0 new");
    expect(outcomeSummary(job({ results: [], result_summary: {} }))).toBeNull();
  });
});

describe("history", () => {
  it("rows open the job page and say what a re-run did", async () => {
    vi.spyOn(api, "jobs").mockReturnValue(page([job({ results: undefined, result_summary: { skipped: 9 } })]));
    render(<HistoryPage version={0} live={null} />);
    const outcome = await screen.findByTestId("job-outcome");
    expect(outcome).toHaveTextContent("9 already analysed, 0 new");
    fireEvent.click(outcome);
    expect(location.pathname).toBe(`/jobs/${"a".repeat(24)}`);
  });
});

describe("ads view", () => {
  it("groups ads sharing a video and shows their performance", async () => {
    const ads = [ad({ id: "1" }), ad({ id: "2", video_id: null, video_ids: [], analysis: null, performance: null }), ad({ id: "3" })];
    expect(groupByVideo(ads).map((g) => g.ads.map((a) => a._id))).toEqual([["1", "3"], ["2"]]);
    const spy = vi.spyOn(api, "ads").mockReturnValue(page(ads));
    render(<AdsPage version={0} />);
    const groups = await screen.findAllByTestId("ad-group");
    expect(groups).toHaveLength(2);
    expect(within(groups[0]).getAllByTestId("ad-row")).toHaveLength(2);
    expect(within(groups[0]).getAllByTestId("hook-rate")[0]).toHaveTextContent("35.0%");
    expect(groups[0]).toHaveTextContent("$12.50");
    expect(groups[0]).toHaveTextContent("question hook");
    expect(groups[1]).toHaveTextContent("Ads without a video");
    expect(spy).toHaveBeenCalledWith(expect.objectContaining({ limit: 100 }));
  });

  it("filters by hook type through the API and keeps the filter in the address", async () => {
    const spy = vi.spyOn(api, "ads").mockReturnValue(page([ad({ id: "1" })]));
    render(<AdsPage version={0} />);
    await screen.findAllByTestId("ad-group");
    await userEvent.selectOptions(screen.getByLabelText("Hook type"), "question");
    await waitFor(() => expect(spy).toHaveBeenLastCalledWith(expect.objectContaining({ hook_type: "question" })));
    expect(location.search).toBe("?hook_type=question");
  });
});

describe("filter bar", () => {
  it("applies typed filters on submit and exports the current view", async () => {
    const onChange = vi.fn();
    const onExport = vi.fn();
    render(<FilterBar query={{ sort: "score" }} onChange={onChange} onExport={onExport} exporting={false} label="ads" />);
    await userEvent.type(screen.getByLabelText("Search transcripts"), "coffee");
    await userEvent.type(screen.getByLabelText("Score from"), "60");
    await userEvent.click(screen.getByRole("button", { name: "Apply" }));
    expect(onChange).toHaveBeenLastCalledWith({ sort: "score", q: "coffee", min_score: "60" });
    await userEvent.click(screen.getByRole("button", { name: "Export CSV" }));
    expect(onExport).toHaveBeenCalled();
  });
});

describe("comparison view", () => {
  const comparison: Comparison = {
    period: "last_30d",
    ads: [
      ad({ id: "1" }),
      ad({ id: "2", analysis: { ...ad({ id: "x" }).analysis!, hook_type: "command", score: 40 }, performance: { ...ad({ id: "x" }).performance!, hook_rate: 0.2 } }),
    ],
    by_hook_type: [
      { hook_type: "question", ads: 1, impressions: 1000, spend: 12.5, hook_rate: 0.35, hold_rate: 0.09, ctr: 1.2, average_score: 80 },
      { hook_type: "command", ads: 1, impressions: 1000, spend: 12.5, hook_rate: 0.2, hold_rate: 0.09, ctr: 1.2, average_score: 40 },
    ],
  };

  it("draws both charts and a table of every ad", async () => {
    vi.spyOn(api, "comparison").mockResolvedValue(comparison);
    render(<ComparePage version={0} />);
    expect(await screen.findByTestId("scatter-chart")).toBeInTheDocument();
    expect(screen.getByTestId("hook-type-chart")).toHaveAttribute("aria-label", expect.stringContaining("question hook rate 35%"));
    expect(within(screen.getByTestId("compare-table")).getAllByRole("row")).toHaveLength(3);
  });

  it("sorts the table by any column, both ways, nulls last", async () => {
    const rows = rowsOf(comparison.ads);
    expect(sortRows(rows, "hook_rate", "desc").map((r) => r.id)).toEqual(["1", "2"]);
    expect(sortRows([...rows, { ...rows[0], id: "n", score: null }], "score", "asc").map((r) => r.id)).toEqual(["2", "1", "n"]);
    render(<CompareTable rows={rows} />);
    const header = screen.getByRole("button", { name: /Score/ });
    await userEvent.click(header);
    const first = () => within(screen.getByTestId("compare-table")).getAllByRole("row")[1];
    expect(first()).toHaveTextContent("80");
    await userEvent.click(header);
    expect(first()).toHaveTextContent("40");
    expect(header.closest("th")).toHaveAttribute("aria-sort", "ascending");
  });
});

describe("saying it like a person", () => {
  it("turns validation text into advice", () => {
    expect(humanMessage("String should have at least 8 characters")).toBe("use at least 8 characters");
    expect(humanMessage("Value error, an ad account id is 'act_' followed by digits")).toBe("an ad account id is 'act_' followed by digits");
  });

  it("routes app paths", () => {
    expect(routeOf("/jobs/abc")).toEqual({ name: "job", id: "abc" });
    expect(routeOf("/ads")).toEqual({ name: "ads" });
    expect(routeOf("/nowhere")).toEqual({ name: "analyze" });
  });
});

describe("sign-in switch", () => {
  it("is a tab list that arrow keys move through, with a panel", async () => {
    render(<AuthPage onSignedIn={() => undefined} notice={null} />);
    expect(screen.getByRole("main")).toBeInTheDocument();
    const signIn = screen.getByRole("tab", { name: "Sign in" });
    signIn.focus();
    await userEvent.keyboard("{ArrowRight}");
    const create = screen.getByRole("tab", { name: "Create account" });
    expect(create).toHaveFocus();
    expect(create).toHaveAttribute("aria-selected", "true");
    expect(screen.getByRole("tabpanel")).toHaveAttribute("aria-labelledby", "tab-register");
    expect(screen.getByRole("button", { name: "Create account" })).toBeInTheDocument();
  });
});

describe("job alerts", () => {
  it("announces stage changes and the end, not every percent; toasts when away", () => {
    const running = (progress: number, message: string): Job => ({ ...job(), status: "running", progress, message, results: [] });
    const { result, rerender } = renderHook(({ j, here }) => useJobEndAlerts(j, here), {
      initialProps: { j: running(20, "Downloading videos (1/9)..."), here: false },
    });
    expect(result.current.announcement).toBe("Analysis running. Downloading videos");
    rerender({ j: running(25, "Downloading videos (2/9)..."), here: false });
    expect(result.current.announcement).toBe("Analysis running. Downloading videos");
    rerender({ j: running(40, "Transcribing videos (3/9)..."), here: false });
    expect(result.current.announcement).toBe("Transcribing videos");
    rerender({ j: job(), here: false });
    expect(result.current.announcement).toMatch(/^Analysis completed\. Analysis completed successfully/);
    expect(result.current.toast?.jobId).toBe("a".repeat(24));
    act(() => result.current.dismissToast());
    expect(result.current.toast).toBeNull();
    expect(stageOf("Getting video URLs (3/10)...")).toBe("Getting video URLs");
  });
});
