// GraphiQL as the hub serves it (hub/graphiql.py): every byte from the hub, nothing from a CDN, so it works on
// a closed council network. The page holds no script of its own (its CSP allows none inline): this bundle
// is all of it.
//
// Sign in first: a bearer token and the purpose to ask under. The docs and autocomplete are that purpose's
// schema contract (GET /graphql/contract?purpose=P with the token, SDL), built here with buildSchema: a
// caller sees exactly what the register lets the purpose ask, and the hub's introspection (off for
// non-admins in production) is never needed. The token is kept in sessionStorage (this tab only: council
// machines are shared; a tab brought back by the browser drops a token past its expiry) and sent by the fetcher from GraphiQL's headers pane, prefilled, so
// what is sent is what is shown. GraphiQL's own state (tabs, history: queries may hold a NINO typed inline)
// is kept in sessionStorage too, never localStorage, and signing out clears it.

import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { buildSchema } from 'graphql';
import { StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import './page.css';

const TOKEN = 'welfare-hub:token';
const PURPOSE = 'welfare-hub:purpose';

const root = document.getElementById('graphiql-root');
const config = JSON.parse(root.dataset.config);

// Monaco's workers, from the hub too (worker-src 'self'). Monaco asks for one only once an editor exists.
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const name = label === 'json' ? 'json.worker.js' : label === 'graphql' ? 'graphql.worker.js' : 'editor.worker.js';
    return new Worker(config.assets[name], { name: label });
  },
};

/** A JWT's claims, read (not verified: the hub verifies) to offer its purposes and say who is signed in. */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')), (c) =>
      c.charCodeAt(0),
    );
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

function purposesOf(claims) {
  const purposes = claims?.purposes;
  return Array.isArray(purposes) ? purposes.filter((p) => typeof p === 'string') : [];
}

/** The hub's error message of a refused request (its errors[0], with its code), or the status. */
async function refusal(response) {
  try {
    const error = (await response.json()).errors[0];
    return `${error.message} (${error.extensions.code})`;
  } catch {
    return `the hub answered ${response.status}`;
  }
}

/** The purpose's schema contract, as a schema: what GraphiQL's docs and autocomplete show. */
async function contract(token, purpose) {
  const url = `${config.contract}?purpose=${encodeURIComponent(purpose)}`;
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
  if (!response.ok) {
    const error = new Error(await refusal(response));
    error.status = response.status;
    throw error;
  }
  return buildSchema(await response.text());
}

/** POSTs each operation to the hub with the headers pane's headers (the token among them). */
function fetcher(params, options) {
  return fetch(config.api, {
    method: 'POST',
    credentials: 'omit',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json;q=0.9',
      ...(options?.headers ?? {}),
    },
    body: JSON.stringify(params),
  }).then(async (response) => {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      return { errors: [{ message: `the hub answered ${response.status}: ${text.slice(0, 200)}` }] };
    }
  });
}

/**
 * GraphiQL's storage for one sign-in: this tab's sessionStorage until signing out, then nothing (its writes
 * after that, debounced or on unmount, must not put a query back once the tab is cleared).
 */
function sessionStore() {
  let open = true;
  return {
    store: {
      getItem: (key) => (open ? sessionStorage.getItem(key) : null),
      setItem: (key, value) => open && sessionStorage.setItem(key, value),
      removeItem: (key) => open && sessionStorage.removeItem(key),
      clear: () => open && sessionStorage.clear(),
      get length() {
        return open ? sessionStorage.length : 0;
      },
    },
    close() {
      open = false;
    },
  };
}

function SignIn({ initialError, onSignedIn }) {
  const [token, setToken] = useState('');
  const [purpose, setPurpose] = useState('');
  const [error, setError] = useState(initialError);
  const [busy, setBusy] = useState(false);
  const purposes = useMemo(() => purposesOf(claimsOf(token.trim())), [token]);
  useEffect(() => {
    if (!purposes.includes(purpose)) setPurpose(purposes[0] ?? '');
  }, [purposes, purpose]);

  async function submit(event) {
    event.preventDefault();
    const given = token.trim();
    if (!given || !purpose) {
      setError(given ? 'this token names no purpose' : 'paste a bearer token');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const schema = await contract(given, purpose);
      sessionStorage.setItem(TOKEN, given);
      sessionStorage.setItem(PURPOSE, purpose);
      onSignedIn({ token: given, purpose, schema, storage: sessionStore() });
    } catch (e) {
      setError(`Not signed in: ${e.message}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="wh-sign-in">
      <h1>Welfare hub: GraphiQL</h1>
      <p>
        Sign in with a bearer token from your identity provider, and choose the purpose you are asking for. The
        documentation and autocomplete then show what that purpose may ask, and nothing else.
      </p>
      <form id="sign-in-form" onSubmit={submit}>
        <label htmlFor="token">Bearer token</label>
        <textarea
          id="token"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
        <label htmlFor="purpose">Purpose</label>
        <select id="purpose" value={purpose} onChange={(e) => setPurpose(e.target.value)} disabled={!purposes.length}>
          {purposes.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <button id="sign-in" type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p id="sign-in-error" className="wh-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Ide({ session, onSignOut }) {
  const claims = claimsOf(session.token);
  const expires = typeof claims?.exp === 'number' ? new Date(claims.exp * 1000).toLocaleTimeString() : null;
  const headers = JSON.stringify({ Authorization: `Bearer ${session.token}` }, null, 2);
  const query = [
    `# Signed in for ${session.purpose}: the docs and autocomplete show what this purpose may ask.`,
    '# Put a NINO in the variables, not in the query text.',
    '',
  ].join('\n');
  return (
    <>
      <header className="wh-bar">
        <span id="signed-in">
          {claims?.org ?? 'signed in'} ({claims?.org_type ?? 'unknown type'}), purpose <b>{session.purpose}</b>
          {expires && `, token expires ${expires}`}
        </span>
        <button id="sign-out" type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <div className="wh-ide">
        <GraphiQL
          fetcher={fetcher}
          schema={session.schema}
          storage={session.storage.store}
          initialHeaders={headers}
          defaultQuery={query}
          shouldPersistHeaders={false}
          showPersistHeadersSettings={false}
          defaultEditorToolsVisibility="headers"
        />
      </div>
    </>
  );
}

function App() {
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  const [restoring, setRestoring] = useState(
    () => Boolean(sessionStorage.getItem(TOKEN) && sessionStorage.getItem(PURPOSE)),
  );

  useEffect(() => {
    // A reload keeps the sign-in (this tab's storage): the contract is asked for again with the token.
    // A tab brought back ("reopen closed tab", a restored browser session) brings its storage back too: a
    // token past its expiry (or with none) is dropped with everything else, never sent again.
    const token = sessionStorage.getItem(TOKEN);
    const purpose = sessionStorage.getItem(PURPOSE);
    if (!token || !purpose) return;
    const expiry = claimsOf(token)?.exp;
    if (typeof expiry !== 'number' || expiry * 1000 <= Date.now()) {
      sessionStorage.clear();
      setError('Signed out: the token has expired');
      setRestoring(false);
      return;
    }
    contract(token, purpose)
      .then((schema) => setSession({ token, purpose, schema, storage: sessionStore() }))
      .catch((e) => {
        // Refused (the token, or the purpose): signed out, tabs and history gone. A hub that did not answer
        // (a 429, a 503, the network) keeps the sign-in for a reload to try again.
        if ([401, 403, 404].includes(e.status)) {
          sessionStorage.clear();
          setError(`Signed out: ${e.message}`);
        } else {
          setError(`The hub did not answer (${e.message}): reload the page to try again`);
        }
      })
      .finally(() => setRestoring(false));
  }, []);

  function signOut() {
    session.storage.close();
    sessionStorage.clear(); // the token, and GraphiQL's tabs and history
    setSession(null);
    setError(null);
  }

  if (restoring) return null;
  if (session === null) return <SignIn initialError={error} onSignedIn={setSession} />;
  return <Ide key={`${session.purpose}:${session.token}`} session={session} onSignOut={signOut} />;
}

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
