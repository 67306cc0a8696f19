// What GraphiQL needs of Monaco, instead of the package's main entry (every language Monaco has, TypeScript's
// service among them: megabytes GraphiQL never uses). The build resolves a bare `monaco-editor` import here.
// The editor core (every editor feature and the standalone API), and JSON for the variables and headers
// editors; monaco-graphql registers GraphQL itself.
import 'monaco-editor/esm/vs/language/json/monaco.contribution.js';

export * from 'monaco-editor/esm/vs/editor/edcore.main.js';
