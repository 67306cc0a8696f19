// Bench only: the purpose assertion a gateway signs onto each subgraph call, minted as the hub mints it
// (resolvers/sources/assertion.py: EdDSA with the hub's assertion key, typ purpose+jwt, aud the source,
// bound to the exact body by body_sha256, a fresh jti and audit id each call). The subgraphs then verify,
// guard and log a gateway's calls exactly as they do the hub's, so every target costs them the same work.
//
// PEERS_SIGNER names a JSON file written by bench/peers/run.py:
//   {kid, pem, issuer, lifetime, claims: {purpose, legal_basis, org, org_type, councils},
//    sources: {"<subgraph url>": {name, fields: [coordinates]}}}
// A URL not in `sources` (the bench-only entry subgraph) is sent unsigned: it holds no data.
import { createHash, createPrivateKey, randomUUID, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const config = JSON.parse(readFileSync(process.env.PEERS_SIGNER, "utf8"));
const key = createPrivateKey(config.pem);
const header = b64(JSON.stringify({ alg: "EdDSA", kid: config.kid, typ: "purpose+jwt" }));

function b64(text) {
  return Buffer.from(text).toString("base64url");
}

/** The subgraph name a URL is (null: not one of the three sources). */
export function sourceOf(url) {
  const found = config.sources[String(url)];
  return found === undefined ? null : found;
}

/** An assertion for a call to `source` ({name, fields}) with exactly `body` (a string or bytes). */
export function assertion(source, body) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: config.issuer,
    aud: source.name,
    sub: config.claims.org,
    iat: now,
    nbf: now,
    exp: now + config.lifetime,
    jti: randomUUID().replaceAll("-", ""),
    purpose: config.claims.purpose,
    legal_basis: config.claims.legal_basis,
    org: config.claims.org,
    org_type: config.claims.org_type,
    audit_id: randomUUID(),
    fields: source.fields,
    councils: config.claims.councils,
    body_sha256: createHash("sha256").update(body).digest("hex"),
  };
  const signing = `${header}.${b64(JSON.stringify(claims))}`;
  return `${signing}.${sign(null, Buffer.from(signing), key).toString("base64url")}`;
}
