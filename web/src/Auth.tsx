import { FormEvent, useState } from "react";
import { api, ApiError } from "./api";

export function AuthPage({ onSignedIn, notice }: { onSignedIn: (token: string) => void; notice: string | null }) {
  const [mode, setMode] = useState<"signin" | "register">("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") await api.register(email, password);
      const { access_token } = await api.signIn(email, password);
      onSignedIn(access_token);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const switchTo = (m: "signin" | "register") => {
    setMode(m);
    setError(null);
  };

  return (
    <div className="auth">
      <div className="auth-intro">
        <div className="brand brand-lg">
          <span className="logo">A</span> adanalysis
        </div>
        <h1>Understand why your video ads work.</h1>
        <p>
          Connect a Facebook ad account and adanalysis downloads your video ads, transcribes them and
          reviews each one: hook, core message, offer, call to action, pacing and tone, with a score
          and concrete suggestions.
        </p>
      </div>
      <form className="card auth-card" onSubmit={submit} aria-label={mode === "signin" ? "Sign in" : "Create account"}>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === "signin"} className={mode === "signin" ? "tab active" : "tab"} onClick={() => switchTo("signin")}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={mode === "register"} className={mode === "register" ? "tab active" : "tab"} onClick={() => switchTo("register")}>
            Create account
          </button>
        </div>
        {notice && <div className="alert info">{notice}</div>}
        <label>
          Email
          <input type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete={mode === "signin" ? "current-password" : "new-password"}
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {mode === "register" && <p className="hint">Use at least 8 characters.</p>}
        {error && (
          <div className="alert error" role="alert">
            {error}
          </div>
        )}
        <button className="btn primary wide" type="submit" disabled={busy}>
          {busy ? "Please wait…" : mode === "signin" ? "Sign in" : "Create account"}
        </button>
        <p className="hint center">
          Trying the demo? Sign in as <code>demo@example.com</code> / <code>demo-password-1</code>.
        </p>
      </form>
    </div>
  );
}
