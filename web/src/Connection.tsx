import { FormEvent, useState } from "react";
import { api, ApiError, Credentials, formatDate } from "./api";
import { Link } from "./nav";

export const DEMO_TOKEN = "sandbox";
export const DEMO_ACCOUNT = "act_1234567890";

interface Props {
  credentials: Credentials | null | undefined;
  onChange: (c: Credentials | null) => void;
}

export function ConnectionPage({ credentials, onChange }: Props) {
  const [token, setTokenValue] = useState("");
  const [account, setAccount] = useState(credentials?.account_id ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const c = await api.putCredentials(token.trim(), account.trim());
      onChange(c);
      setTokenValue("");
      setAccount(c.account_id);
      setSaved(`Connected to ${c.account_name ?? c.account_id}${c.account_currency ? ` (${c.account_currency})` : ""}.`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (!window.confirm("Remove the saved Facebook token and ad account?")) return;
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      await api.deleteCredentials();
      onChange(null);
      setSaved("Connection removed.");
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="page-narrow">
      <div className="card">
        <h1>Facebook connection</h1>
        <p className="muted">
          adanalysis reads your ads with a Facebook Marketing API access token. The token is stored
          encrypted and is never shown again — only its first characters.
        </p>
        {credentials === undefined ? (
          <p className="muted">Loading…</p>
        ) : credentials ? (
          <dl className="facts" data-testid="saved-credentials">
            <div>
              <dt>Ad account</dt>
              <dd>
                {credentials.account_name && <strong className="block">{credentials.account_name}</strong>}
                {credentials.account_id}
              </dd>
            </div>
            {credentials.account_currency && (
              <div>
                <dt>Currency</dt>
                <dd>{credentials.account_currency}</dd>
              </div>
            )}
            {credentials.account_status && (
              <div>
                <dt>Account status</dt>
                <dd>
                  {credentials.account_status.toLowerCase().replace(/_/g, " ")}
                  {credentials.account_status !== "ACTIVE" && <span className="muted small block">Facebook does not deliver this account’s ads while it is not active.</span>}
                </dd>
              </div>
            )}
            <div>
              <dt>Access token</dt>
              <dd>
                <code>{credentials.access_token}</code>
              </dd>
            </div>
            <div>
              <dt>Updated</dt>
              <dd>{formatDate(credentials.updated_at)}</dd>
            </div>
          </dl>
        ) : (
          <div className="alert warn">No Facebook account connected yet.</div>
        )}
      </div>

      <form className="card" onSubmit={save} aria-label="Facebook credentials">
        <h3>{credentials ? "Replace the connection" : "Connect an ad account"}</h3>
        <label>
          Access token
          <input
            name="access_token"
            type="password"
            autoComplete="off"
            required
            placeholder={credentials ? "Enter a new token" : "EAAB…"}
            value={token}
            onChange={(e) => setTokenValue(e.target.value)}
          />
        </label>
        <label>
          Ad account ID
          <input
            name="account_id"
            required
            placeholder="act_1234567890"
            value={account}
            onChange={(e) => setAccount(e.target.value)}
          />
        </label>
        <div className="hint demo">
          <strong>Demo:</strong> the built-in sandbox accepts token <code>{DEMO_TOKEN}</code> and ad
          account <code>{DEMO_ACCOUNT}</code>.{" "}
          <button
            type="button"
            className="link"
            onClick={() => {
              setTokenValue(DEMO_TOKEN);
              setAccount(DEMO_ACCOUNT);
            }}
          >
            Fill in demo values
          </button>
        </div>
        {error && (
          <div className="alert error" role="alert" data-testid="connection-error">
            {error}
          </div>
        )}
        {saved && (
          <div className="alert success" role="status">
            {saved} <Link to="/">Go to analysis →</Link>
          </div>
        )}
        <div className="row">
          <button className="btn primary" type="submit" disabled={busy}>
            Save connection
          </button>
          {credentials && (
            <button className="btn ghost danger" type="button" onClick={remove} disabled={busy}>
              Remove
            </button>
          )}
        </div>
      </form>
    </section>
  );
}
