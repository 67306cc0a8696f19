// Bench only: Hive Gateway's configuration (both runtimes): sign each subgraph call with the hub's purpose
// assertion (signer.mjs). onFetch sees the exact body string the gateway sends, with the Rust runtime too.
// usage: PEERS_SIGNER=signer.json hive-gateway supergraph supergraph.graphql -c hive.config.mjs [--hive-router-runtime]
import { assertion, sourceOf } from "./signer.mjs";

export const gatewayConfig = {
  plugins: () => [
    {
      onFetch({ url, options, setOptions }) {
        const source = sourceOf(url);
        if (source === null) return;
        setOptions({
          ...options,
          headers: { ...options.headers, authorization: `Bearer ${assertion(source, options.body)}` },
        });
      },
    },
  ],
};
