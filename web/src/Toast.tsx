import { useCallback, useEffect, useRef, useState } from "react";
import { FINAL_STATUSES, Job } from "./api";
import { STATUS_LABEL } from "./JobPanel";
import { Link } from "./nav";

export interface ToastData {
  jobId: string;
  status: string;
  text: string;
}

const TOAST_MS = 15000;

/** "Downloading videos (3/8)..." and "(4/8)" are one stage; what a screen reader should hear. */
export function stageOf(message: string | null | undefined): string {
  return (message ?? "").replace(/\s*\(\d+\/\d+(?: [a-z]+)?\)/g, "").replace(/\.\.\.$|…$/, "").trim();
}

function endText(job: Job): string {
  if (job.status === "failed") return job.error_message || "The analysis failed.";
  return job.message || `Analysis ${STATUS_LABEL[job.status]?.toLowerCase() ?? job.status}.`;
}

/**
 * What to tell the user about the watched job: a live-region sentence at each stage change and
 * at the end (not every percent), and, when the job ends while they look elsewhere, an in-page
 * toast plus a browser notification (if they allowed notifications).
 */
export function useJobEndAlerts(job: Job | null, onAnalysisPage: boolean) {
  const [announcement, setAnnouncement] = useState("");
  const [toast, setToast] = useState<ToastData | null>(null);
  const last = useRef<{ id: string; status: string; stage: string } | null>(null);

  useEffect(() => {
    if (!job) return;
    const final = FINAL_STATUSES.includes(job.status);
    const stage = stageOf(job.message);
    const prev = last.current;
    last.current = { id: job._id, status: job.status, stage };
    if (!prev || prev.id !== job._id) {
      if (!final) setAnnouncement(`Analysis ${job.status === "pending" ? "queued" : "running"}. ${stage}`.trim());
      return;
    }
    if (final && !FINAL_STATUSES.includes(prev.status as Job["status"])) {
      const text = endText(job);
      setAnnouncement(`Analysis ${STATUS_LABEL[job.status]?.toLowerCase()}. ${text}`);
      const away = document.visibilityState === "hidden" || !document.hasFocus();
      if (!onAnalysisPage || away) setToast({ jobId: job._id, status: job.status, text });
      if (away && typeof Notification !== "undefined" && Notification.permission === "granted") {
        try {
          new Notification(`adanalysis: analysis ${STATUS_LABEL[job.status]?.toLowerCase()}`, { body: text, tag: job._id });
        } catch {
          /* some browsers allow notifications only from a service worker */
        }
      }
    } else if (!final && stage && stage !== prev.stage) {
      setAnnouncement(stage);
    }
  }, [job, onAnalysisPage]);

  useEffect(() => {
    if (!toast) return;
    const t = window.setTimeout(() => setToast(null), TOAST_MS);
    return () => window.clearTimeout(t);
  }, [toast]);

  const dismissToast = useCallback(() => setToast(null), []);
  return { toast, announcement, dismissToast };
}

export function Toast({ toast, onClose }: { toast: ToastData; onClose: () => void }) {
  return (
    <div className={`toast status-${toast.status}`} data-testid="toast">
      <div>
        <strong>Analysis {STATUS_LABEL[toast.status]?.toLowerCase() ?? toast.status}</strong>
        <p>{toast.text}</p>
        <Link to={`/jobs/${toast.jobId}`} onClick={onClose}>
          See what was done →
        </Link>
      </div>
      <button className="btn ghost small" onClick={onClose} aria-label="Close notification">
        ×
      </button>
    </div>
  );
}
