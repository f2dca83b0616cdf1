import { FormEvent, KeyboardEvent, useRef, useState } from "react";
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
  const tabs = { signin: useRef<HTMLButtonElement>(null), register: useRef<HTMLButtonElement>(null) };
  // Arrow keys, Home and End move between the tabs, as in the ARIA tabs pattern.
  const onTabKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const order: ("signin" | "register")[] = ["signin", "register"];
    const i = order.indexOf(mode);
    const to = { ArrowRight: order[(i + 1) % 2], ArrowLeft: order[(i + 1) % 2], Home: order[0], End: order[1] }[e.key];
    if (!to) return;
    e.preventDefault();
    switchTo(to);
    tabs[to].current?.focus();
  };
  const tab = (m: "signin" | "register", label: string) => (
    <button
      type="button"
      role="tab"
      id={`tab-${m}`}
      ref={tabs[m]}
      aria-selected={mode === m}
      aria-controls="auth-panel"
      tabIndex={mode === m ? 0 : -1}
      className={mode === m ? "tab active" : "tab"}
      onClick={() => switchTo(m)}
    >
      {label}
    </button>
  );

  return (
    <main className="auth">
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
        <div className="tabs" role="tablist" aria-label="Sign in or create an account" onKeyDown={onTabKey}>
          {tab("signin", "Sign in")}
          {tab("register", "Create account")}
        </div>
        <div role="tabpanel" id="auth-panel" aria-labelledby={`tab-${mode}`}>
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
        </div>
      </form>
    </main>
  );
}
