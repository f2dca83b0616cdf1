import { useEffect, useState } from "react";
import { api, ApiError, FINAL_STATUSES, Job, jobSocketUrl } from "./api";

export type Transport = "socket" | "polling" | "idle";

const POLL_MS = 2000;
// While the socket is open, still re-read the job now and then: a safety net for lost events.
const WATCHDOG_MS = 15000;

const isFinal = (job: Job | null) => !!job && FINAL_STATUSES.includes(job.status);

/**
 * Live state of one job: a WebSocket first (whole document, then updates), polling
 * job-status every 2 s when the socket cannot be used or drops before the job ends.
 */
export function useJobWatcher(jobId: string | null, token: string | null, seed: Job | null) {
  const [job, setJob] = useState<Job | null>(seed);
  const [transport, setTransport] = useState<Transport>("idle");
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setError(null);
    if (!jobId || !token) {
      setJob(null);
      setTransport("idle");
      return;
    }
    setJob(seed && seed._id === jobId ? seed : null);
    let stopped = false;
    let current: Job | null = seed && seed._id === jobId ? seed : null;
    let socket: WebSocket | null = null;
    let pollTimer: number | undefined;
    let watchdog: number | undefined;

    const apply = (update: Partial<Job>) => {
      current = { ...(current ?? ({ _id: jobId } as Job)), ...update } as Job;
      setJob(current);
      if (isFinal(current)) finish();
    };

    const finish = () => {
      window.clearTimeout(pollTimer);
      window.clearInterval(watchdog);
      setTransport("idle");
    };

    const readOnce = async (): Promise<boolean> => {
      try {
        apply(await api.jobStatus(jobId));
        return true;
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 401)) {
          setError(e.message);
          finish();
          stopped = true;
        }
        return false;
      }
    };

    const poll = async () => {
      if (stopped) return;
      await readOnce();
      if (!stopped && !isFinal(current)) pollTimer = window.setTimeout(poll, POLL_MS);
    };

    const startPolling = () => {
      if (stopped || isFinal(current)) return;
      window.clearInterval(watchdog);
      setTransport("polling");
      void poll();
    };

    const openSocket = () => {
      if (typeof WebSocket === "undefined") return startPolling();
      try {
        socket = new WebSocket(jobSocketUrl(jobId, token));
      } catch {
        return startPolling();
      }
      socket.onopen = () => {
        if (stopped) return;
        setTransport("socket");
        watchdog = window.setInterval(() => void readOnce(), WATCHDOG_MS);
      };
      socket.onmessage = (ev) => {
        if (stopped) return;
        try {
          apply(JSON.parse(ev.data as string) as Partial<Job>);
        } catch {
          /* ignore a malformed frame */
        }
      };
      socket.onclose = () => {
        socket = null;
        if (stopped || isFinal(current)) return;
        // Closed before a final status (1008, network, server restart): let polling decide.
        startPolling();
      };
    };

    openSocket();

    return () => {
      stopped = true;
      window.clearTimeout(pollTimer);
      window.clearInterval(watchdog);
      if (socket) {
        socket.onclose = null;
        socket.close();
      }
    };
    // seed is only the first picture of the job; do not resubscribe when it changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId, token]);

  return { job, transport, error };
}
