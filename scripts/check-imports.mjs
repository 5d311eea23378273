#!/usr/bin/env node
// Structure checks run by `npm test` (and so by CI):
//  1. the import graph between the top-level parts of src/ (each folder, and
//     each file directly in src/) has no cycle;
//  2. no function in src/ is longer than MAX_FUNCTION_LINES lines;
//  3. the file and folder names of the data folder (the string constants of
//     src/data-folder.ts) appear as string literals nowhere else in src/.
// Prints the folder graph, the cycles found and the longest functions; exits 1
// on any violation. Uses the TypeScript compiler already in devDependencies.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const MAX_FUNCTION_LINES = 80;
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The top-level part of src/ a file belongs to: its first folder, or the file itself. */
const partOf = (file) => relative(src, file).split(sep)[0];

const edges = new Map(); // part -> Map(part -> example "file -> import")
let longest = [];
let failed = false;

// Data-folder names: "media" alone is too common a word (metric labels) to police.
const dataFolderFile = join(src, "data-folder.ts");
const dataFolderNames = [...readFileSync(dataFolderFile, "utf8").matchAll(/^export const [A-Z_]+ = "([^"]+)";/gm)]
  .map((m) => m[1])
  .filter((name) => name !== "media");
const nameLeaks = [];

for (const file of sourceFiles(src)) {
  const text = readFileSync(file, "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const from = partOf(file);
  const visit = (node) => {
    if (file !== dataFolderFile && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node))) {
      for (const name of dataFolderNames) {
        // A path-like literal (no spaces) holding the name; prose in messages may mention it.
        if (!/\s/.test(node.text) && node.text.includes(name)) nameLeaks.push(`${relative(root, file)}:${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1} "${name}"`);
      }
    }
    const spec =
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)
        ? node.moduleSpecifier.text
        : ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])
          ? node.arguments[0].text
          : undefined;
    if (spec?.startsWith(".")) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      const to = partOf(target);
      if (to !== from && !to.startsWith("..")) {
        if (!edges.has(from)) edges.set(from, new Map());
        if (!edges.get(from).has(to)) edges.get(from).set(to, `${relative(root, file)} -> ${spec}`);
      }
    }
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.end).line;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : "(anonymous)";
      longest.push({ lines: end - start + 1, where: `${relative(root, file)}:${start + 1} ${name}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}

// Tarjan's strongly connected components: any component with more than one part is a cycle.
const parts = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((m) => [...m.keys()])])].sort();
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
let counter = 0;
function strongConnect(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)?.keys() ?? []) {
    if (!index.has(w)) {
      strongConnect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) cycles.push(component.sort());
  }
}
for (const p of parts) if (!index.has(p)) strongConnect(p);

console.log("import graph of src/ (part -> parts it imports):");
for (const p of parts) console.log(`  ${p} -> ${[...(edges.get(p)?.keys() ?? [])].sort().join(", ") || "(nothing)"}`);
if (cycles.length === 0) console.log("folder-level import cycles: none");
for (const cycle of cycles) {
  failed = true;
  console.log(`CYCLE between ${cycle.join(", ")}:`);
  for (const a of cycle) for (const [b, example] of edges.get(a) ?? []) if (cycle.includes(b)) console.log(`  ${a} -> ${b}  (e.g. ${example})`);
}

longest.sort((a, b) => b.lines - a.lines);
const tooLong = longest.filter((f) => f.lines > MAX_FUNCTION_LINES);
console.log(`longest functions (limit ${MAX_FUNCTION_LINES} lines):`);
for (const f of longest.slice(0, 5)) console.log(`  ${f.lines} ${f.where}`);
if (tooLong.length > 0) {
  failed = true;
  console.log(`${tooLong.length} function(s) over ${MAX_FUNCTION_LINES} lines:`);
  for (const f of tooLong) console.log(`  ${f.lines} ${f.where}`);
}
if (nameLeaks.length === 0) console.log(`data-folder names (${dataFolderNames.length}) defined once, in src/data-folder.ts`);
else {
  failed = true;
  console.log("data-folder names written outside src/data-folder.ts:");
  for (const leak of nameLeaks) console.log(`  ${leak}`);
}
process.exit(failed ? 1 : 0);
