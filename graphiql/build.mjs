// Builds GraphiQL for the hub to serve (hub/graphiql.py) into hub/static/graphiql/: the page's script and
// styles, and Monaco's three workers, each named by its content hash (served with a year's cache), and
// manifest.json: which file is which, each file's SHA-256, the packages' versions and the sources' hashes.
// tests/hub/test_graphiql.py compares the manifest with package-lock.json, the files and these sources, so a
// bundle not rebuilt after a change fails. Run by scripts/build-graphiql (after npm ci).

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const repo = dirname(here);
const out = join(repo, 'hub', 'static', 'graphiql');
// What is bundled, whose versions the manifest records (react-dom's scheduler and the rest follow these).
const PACKAGES = [
  'graphiql',
  '@graphiql/react',
  '@graphiql/toolkit',
  '@graphiql/plugin-doc-explorer',
  '@graphiql/plugin-history',
  'monaco-editor',
  'monaco-graphql',
  'graphql',
  'react',
  'react-dom',
  'esbuild',
];
const SOURCES = ['build.mjs', 'main.jsx', 'monaco.js', 'page.css'];

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// A bare `monaco-editor` import is the package's main entry, every language Monaco has: GraphiQL needs two.
const lessMonaco = {
  name: 'less-monaco',
  setup(build) {
    build.onResolve({ filter: /^monaco-editor$/ }, () => ({ path: join(here, 'monaco.js') }));
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: repo,
  entryPoints: {
    graphiql: join(here, 'main.jsx'),
    'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js',
    'json.worker': 'monaco-editor/esm/vs/language/json/json.worker.js',
    'graphql.worker': 'monaco-graphql/esm/graphql.worker.js',
  },
  outdir: out,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2022'],
  jsx: 'automatic',
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file' },
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'eof',
  charset: 'utf8',
  metafile: true,
  logLevel: 'warning',
  plugins: [lessMonaco],
});

const assets = {};
for (const [path, info] of Object.entries(result.metafile.outputs)) {
  const file = relative(out, join(repo, path));
  const logical = info.entryPoint
    ? `${file.replace(/-[A-Z0-9]{8}\.js$/, '')}.js`
    : file.replace(/-[A-Z0-9]{8}(\.[a-z0-9]+)$/, '$1');
  assets[logical] = { file, bytes: info.bytes, sha256: sha256(readFileSync(join(out, file))) };
}
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
const packages = Object.fromEntries(
  PACKAGES.map((name) => {
    const version = lock.packages[`node_modules/${name}`]?.version;
    if (!version) throw new Error(`${name} is not in package-lock.json: npm ci first`);
    const installed = JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')).version;
    if (installed !== version) throw new Error(`${name} ${installed} is installed, the lockfile says ${version}: npm ci`);
    return [name, version];
  }),
);
const sources = Object.fromEntries(SOURCES.map((name) => [`graphiql/${name}`, sha256(readFileSync(join(here, name)))]));
const sorted = Object.fromEntries(Object.entries(assets).sort(([a], [b]) => a.localeCompare(b)));
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ packages, sources, assets: sorted }, null, 2)}\n`);
for (const [name, { file, bytes }] of Object.entries(sorted)) {
  console.log(`${name.padEnd(20)} ${file.padEnd(32)} ${(bytes / 1024).toFixed(0).padStart(6)} KiB`);
}
console.log(`files: ${readdirSync(out).length} in ${relative(repo, out)}`);
