// Bench only: Apollo Gateway (@apollo/gateway + @apollo/server's standalone server) over the supergraph,
// signing each subgraph call with the hub's purpose assertion (signer.mjs). POST to http://host:port/.
// usage: PEERS_SIGNER=signer.json node apollo.mjs supergraph.graphql PORT
import { readFileSync } from "node:fs";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { assertion, sourceOf } from "./signer.mjs";

const [supergraphPath, port] = process.argv.slice(2);

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, "utf8"),
  buildService({ url }) {
    const source = sourceOf(url);
    return new RemoteGraphQLDataSource({
      url,
      // The body is final here (the data source has serialised it), so the assertion binds to what is sent.
      fetcher: (target, init) => {
        if (source === null) return fetch(target, init);
        const headers = new Headers(init.headers);
        headers.set("authorization", `Bearer ${assertion(source, init.body)}`);
        return fetch(target, { ...init, headers });
      },
    });
  },
});

const server = new ApolloServer({ gateway, introspection: false });
const { url } = await startStandaloneServer(server, { listen: { port: Number(port), host: "127.0.0.1" } });
console.log(`apollo gateway ready at ${url}`);
