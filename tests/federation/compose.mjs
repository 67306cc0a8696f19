// Compose subgraph SDLs with Apollo's own composer, as an Apollo router's supergraph build would.
// usage: node compose.mjs name=path.graphql ...   -> stdout JSON; exit 1 when composition fails
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";

const services = process.argv.slice(2).map((arg) => {
  const [name, path] = arg.split("=");
  // The composer never calls these: a supergraph names each subgraph's URL, which the router fills in.
  return { name, url: `http://${name}.invalid/graphql`, typeDefs: parse(readFileSync(path, "utf8")) };
});
const result = composeServices(services);
if (result.errors) {
  const errors = result.errors.map((e) => ({ code: e.extensions?.code ?? null, message: e.message }));
  console.log(JSON.stringify({ ok: false, errors }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, hints: result.hints.map(String), supergraphSdl: result.supergraphSdl }));
