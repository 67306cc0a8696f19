// Bench only: the entry subgraph a gateway needs to ask the hub's person query (the sources' supergraph has
// no root joining DwpPerson, HbPerson and CareClient). In memory, no data: person(nino) answers three stubs
// keyed by the NINO, and the gateway fetches each from its source. GET /count: the requests it has answered
// (the gateway's root fetches), for the upstream-requests column.
// usage: node entry.mjs PORT            (node entry.mjs --print-sdl: the SDL, for composition)
import { createServer } from "node:http";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse, execute } from "graphql";

export const typeDefs = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"])

type Query {
  person(nino: ID!): Person
}

type Person {
  dwp: DwpPerson
  housingBenefit: HbPerson
  socialCare: CareClient
}

type DwpPerson @key(fields: "nino", resolvable: false) {
  nino: String
}

type HbPerson @key(fields: "nino", resolvable: false) {
  nino: String
}

type CareClient @key(fields: "nino", resolvable: false) {
  nino: String
}
`;

if (process.argv[2] === "--print-sdl") {
  process.stdout.write(typeDefs);
  process.exit(0);
}

const schema = buildSubgraphSchema({
  typeDefs: parse(typeDefs),
  resolvers: {
    Query: {
      person: (_, { nino }) => ({ dwp: { nino }, housingBenefit: { nino }, socialCare: { nino } }),
    },
  },
});

// A plain node:http server with a parse cache: the entry subgraph should cost as little as it can, so
// that what the table charges to it is the gateways' extra hop, not this bench's overhead.
const documents = new Map();
let answered = 0;
const port = Number(process.argv[2]);

createServer((req, res) => {
  if (req.method === "GET" && req.url === "/count") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ answered }));
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    answered += 1;
    let out;
    try {
      const { query, variables, operationName } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      let document = documents.get(query);
      if (document === undefined) {
        document = parse(query);
        documents.set(query, document);
      }
      out = await execute({ schema, document, variableValues: variables, operationName });
    } catch (e) {
      out = { errors: [{ message: String(e?.message ?? e) }] };
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(out));
  });
}).listen(port, "127.0.0.1", () => console.log(`entry subgraph ready on ${port}`));
