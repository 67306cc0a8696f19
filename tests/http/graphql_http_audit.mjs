// The GraphQL-over-HTTP audit suite (graphql-http, pinned in package.json) against a running server, as a
// signed-in client: every request carries the bearer token. Prints one JSON line per audit.
//   node tests/http/graphql_http_audit.mjs URL   (the token in WELFARE_HUB_AUDIT_TOKEN)
import { auditServer } from "graphql-http";

const url = process.argv[2];
const token = process.env.WELFARE_HUB_AUDIT_TOKEN;
if (!url || !token) {
  console.error("usage: WELFARE_HUB_AUDIT_TOKEN=... node graphql_http_audit.mjs URL");
  process.exit(2);
}

const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set("authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
for (const r of results) {
  const line = { id: r.id, name: r.name, status: r.status, reason: r.reason ?? null };
  if (r.status !== "ok" && r.response) {
    // What the server answered, for the failure's message (the audit's own bodies hold no personal data).
    line.answer = {
      status: r.response.status,
      contentType: r.response.headers.get("content-type"),
      body: (await r.response.text().catch(() => "")).slice(0, 300),
    };
  }
  console.log(JSON.stringify(line));
}
