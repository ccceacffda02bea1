import { useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useEffect, useState } from 'react';
import { Link, Route, Switch, useRoute } from 'wouter';
import { onUnauthorized, storeApiKey, storedApiKey } from './api.js';
import { Dashboard } from './pages/Dashboard.js';
import { DeploymentPage } from './pages/DeploymentPage.js';
import { Deployments } from './pages/Deployments.js';
import { PoolPage, Pools } from './pages/Pools.js';
import { RunPage } from './pages/RunPage.js';
import { Runs } from './pages/Runs.js';

export function App() {
  const [needsKey, setNeedsKey] = useState(false);
  useEffect(() => onUnauthorized(() => setNeedsKey(true)), []);
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/" className="brand">
          Drover
        </Link>
        <nav aria-label="Main">
          <NavLink href="/runs">Flow runs</NavLink>
          <NavLink href="/deployments">Deployments</NavLink>
          <NavLink href="/pools">Work pools</NavLink>
        </nav>
        <ThemeToggle />
      </header>
      <main id="main">
        {needsKey ? (
          <ApiKeyPrompt onDone={() => setNeedsKey(false)} />
        ) : (
          <Switch>
            <Route path="/" component={Dashboard} />
            <Route path="/runs" component={Runs} />
            <Route path="/runs/:id">{(params) => <RunPage id={params.id} />}</Route>
            <Route path="/deployments" component={Deployments} />
            <Route path="/deployments/:id">{(params) => <DeploymentPage id={params.id} />}</Route>
            <Route path="/pools" component={Pools} />
            <Route path="/pools/:name">{(params) => <PoolPage name={decodeURIComponent(params.name)} />}</Route>
            <Route>
              <h1>Not found</h1>
              <p>
                No page here. <Link href="/">Back to the dashboard</Link>
              </p>
            </Route>
          </Switch>
        )}
      </main>
    </>
  );
}

function NavLink({ href, children }: { href: string; children: string }) {
  const [exact] = useRoute(href);
  const [nested] = useRoute(`${href}/*`);
  return (
    <Link href={href} aria-current={exact || nested ? 'page' : undefined}>
      {children}
    </Link>
  );
}

/** Asks for the server's API key; it is kept in this tab's session only and sent with every call. */
function ApiKeyPrompt({ onDone }: { onDone: () => void }) {
  const queryClient = useQueryClient();
  const [key, setKey] = useState('');
  const wasWrong = storedApiKey() !== null;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    storeApiKey(key.trim());
    onDone();
    void queryClient.resetQueries();
  };
  return (
    <form className="key-prompt" onSubmit={submit}>
      <h1>API key</h1>
      <p>This Drover server asks for its API key (DROVER_API_KEY). It stays in this browser tab and is sent only to this server.</p>
      {wasWrong && (
        <p role="alert" className="error">
          The server refused the key given: check it and try again.
        </p>
      )}
      <label>
        API key
        <input type="password" autoComplete="current-password" required value={key} onChange={(event) => setKey(event.target.value)} />
      </label>
      <button type="submit" className="primary">
        Continue
      </button>
    </form>
  );
}

const THEME_ITEM = 'drover.theme';

/** Light or dark: the system's choice until the user picks one here. */
function ThemeToggle() {
  const [theme, setTheme] = useState<string | null>(() => localStorage.getItem(THEME_ITEM));
  useEffect(() => {
    if (theme) document.documentElement.dataset.theme = theme;
    else delete document.documentElement.dataset.theme;
  }, [theme]);
  const dark = theme ? theme === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
  return (
    <button
      type="button"
      className="theme"
      aria-pressed={dark}
      onClick={() => {
        const next = dark ? 'light' : 'dark';
        localStorage.setItem(THEME_ITEM, next);
        setTheme(next);
      }}
    >
      Dark mode
    </button>
  );
}
