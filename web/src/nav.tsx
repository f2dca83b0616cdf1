// Client-side routes on real paths (/jobs/<id>, /ads...): the server answers them with the app.
import { AnchorHTMLAttributes, MouseEvent, useEffect, useState } from "react";

const EVENT = "adanalysis:navigate";

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo?.(0, 0);
}

/** The current path; links written as #/history before paths existed still land right. */
export function usePath(): string {
  const [path, setPath] = useState(() => legacyHash() ?? location.pathname);
  useEffect(() => {
    const legacy = legacyHash();
    if (legacy) navigate(legacy, true);
    const on = () => setPath(location.pathname);
    window.addEventListener("popstate", on);
    window.addEventListener(EVENT, on);
    return () => {
      window.removeEventListener("popstate", on);
      window.removeEventListener(EVENT, on);
    };
  }, []);
  return path;
}

function legacyHash(): string | null {
  const h = location.hash.replace(/^#\/?/, "");
  return location.hash.startsWith("#/") ? `/${h}` : null;
}

/** An in-app link: a plain <a href> (open in new tab works) that navigates without reloading. */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}
