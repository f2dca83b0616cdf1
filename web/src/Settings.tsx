// Settings: job-end notifications (email, signed webhook and its delivery log) and your data.
import { FormEvent, useCallback, useEffect, useState } from "react";
import { api, ApiError, formatDate, NotificationSettings, WebhookDelivery } from "./api";

const message = (e: unknown) => (e instanceof ApiError ? e.message : String(e));

export function SettingsPage({ onAccountDeleted }: { onAccountDeleted: () => void }) {
  return (
    <section className="page-narrow settings">
      <Notifications />
      <YourData onAccountDeleted={onAccountDeleted} />
    </section>
  );
}

function Notifications() {
  const [settings, setSettings] = useState<NotificationSettings | null>(null);
  const [email, setEmail] = useState(true);
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const [deliveries, setDeliveries] = useState<WebhookDelivery[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  const load = useCallback(() => {
    api
      .notificationSettings()
      .then((s) => {
        setSettings(s);
        setEmail(s.email_enabled);
        setUrl(s.webhook_url ?? "");
      })
      .catch((e) => setError(message(e)));
    api.webhookDeliveries().then(setDeliveries).catch(() => undefined);
  }, []);
  useEffect(load, [load]);

  const save = async (e: FormEvent, rotate = false) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      const s = await api.saveNotificationSettings({ email_enabled: email, webhook_url: url.trim() || null, rotate_secret: rotate });
      setSettings(s);
      if (s.webhook_secret) setSecret(s.webhook_secret);
      setSaved(true);
    } catch (err) {
      setError(message(err));
    }
  };

  return (
    <div className="card">
      <h1>Notifications</h1>
      <p className="muted">When an analysis ends: an email, and a call to your webhook if you set one.</p>
      <form onSubmit={(e) => void save(e)}>
        <label className="check">
          <input type="checkbox" checked={email} onChange={(e) => setEmail(e.target.checked)} data-testid="email-enabled" /> Email me when an
          analysis ends
        </label>
        {settings && !settings.email_available && <p className="muted small">This server has no mail server set up, so no email is sent.</p>}
        <div className="field">
          <label htmlFor="webhook-url">Webhook URL (optional)</label>
          <input id="webhook-url" type="url" placeholder="https://example.com/hooks/adanalysis" value={url} onChange={(e) => setUrl(e.target.value)} />
          {settings && (
            <span className="muted small">
              Each call is a JSON POST signed with HMAC-SHA256 in the <code>{settings.signature_header}</code> header (<code>sha256=&lt;hex&gt;</code>).
            </span>
          )}
        </div>
        <div className="start-row">
          <button className="btn primary" type="submit">
            Save
          </button>
          {settings?.webhook_url && (
            <button className="btn ghost" type="button" onClick={(e) => void save(e, true)}>
              New signing secret
            </button>
          )}
        </div>
      </form>
      {saved && <div className="alert info">Saved.</div>}
      {secret && (
        <div className="alert info" data-testid="webhook-secret">
          Your webhook signing secret (shown once, keep it): <code>{secret}</code>
        </div>
      )}
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {deliveries.length > 0 && (
        <>
          <h3>Webhook deliveries</h3>
          <table data-testid="webhook-deliveries">
            <thead>
              <tr>
                <th>When</th>
                <th>Job</th>
                <th>Event</th>
                <th>Try</th>
                <th>Answer</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((d) => (
                <tr key={d.id}>
                  <td>{formatDate(d.created_at)}</td>
                  <td>{d.job_id.slice(-8)}</td>
                  <td>{d.event}</td>
                  <td>{d.attempt}</td>
                  <td>{d.ok ? `✓ ${d.status_code}` : `✗ ${d.error ?? ""}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}

function YourData({ onAccountDeleted }: { onAccountDeleted: () => void }) {
  const [password, setPassword] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const deleteAnalyses = async () => {
    if (!window.confirm("Delete every analysis of yours? This cannot be undone.")) return;
    setError(null);
    try {
      const { deleted } = await api.deleteAllAnalyses();
      setNote(`${deleted} analyses deleted.`);
    } catch (e) {
      setError(message(e));
    }
  };

  const deleteAccount = async (e: FormEvent) => {
    e.preventDefault();
    if (!window.confirm("Delete your account and everything in it? This cannot be undone.")) return;
    setError(null);
    try {
      await api.deleteAccount(password);
      onAccountDeleted();
    } catch (err) {
      setError(message(err));
    }
  };

  return (
    <div className="card danger-zone">
      <h2>Your data</h2>
      <p className="muted">
        Remove your saved Facebook connection on the Connection page. Here you can delete your analyses, or your whole account: your jobs,
        analyses, saved token and settings all go.
      </p>
      <button className="btn danger" onClick={() => void deleteAnalyses()}>
        Delete all my analyses
      </button>
      <form onSubmit={(e) => void deleteAccount(e)} className="field" style={{ marginTop: "1rem" }}>
        <label htmlFor="delete-password">Your password, to delete your account</label>
        <input id="delete-password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
        <button className="btn danger" type="submit" disabled={!password}>
          Delete my account
        </button>
      </form>
      {note && <div className="alert info">{note}</div>}
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
