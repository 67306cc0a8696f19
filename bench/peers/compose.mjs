// Bench only: compose the sources' subgraph SDLs and the entry subgraph's into one supergraph with Apollo's
// composer (as tests/federation/compose.mjs does), each subgraph at the URL it really runs on.
// usage: node compose.mjs name=path.graphql=http://127.0.0.1:PORT/graphql ...   -> the supergraph SDL on stdout
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";

const services = process.argv.slice(2).map((arg) => {
  const [name, path, ...url] = arg.split("=");
  return { name, url: url.join("="), typeDefs: parse(readFileSync(path, "utf8")) };
});
const result = composeServices(services);
if (result.errors) {
  for (const e of result.errors) console.error(`${e.extensions?.code ?? "ERROR"}: ${e.message}`);
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
