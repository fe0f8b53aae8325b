// Function-length check: parses every .ts file under src/ (generated code aside) with the
// TypeScript compiler API and reports each function longer than a limit, longest first.
// A function's length runs from its first line to its last, so a nested function's lines count
// toward its parent as well ("a function over 80 lines" is one a reader has to hold whole);
// each function is still reported once, under its own name.
//
//   tsx scripts/function-length.ts [--max 80] [--root src] [--json]
//
// Exit code: 0 when none exceeds the limit, 1 when one does, 2 on a usage error.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ts from 'typescript';

/** The `--json` output. */
export interface FunctionLengthReport {
  root: string;
  max: number;
  /** Files parsed and functions (with a body) measured. */
  files: number;
  functions: number;
  /** The functions over `max` lines, longest first; `file` is `root` joined with its path. */
  over: Array<{ file: string; line: number; name: string; lines: number }>;
}

interface Options {
  max: number;
  root: string;
  json: boolean;
}

type FunctionWithBody = ts.FunctionLikeDeclaration & { body: ts.Node };

interface Measured {
  file: string;
  line: number;
  name: string;
  lines: number;
}

// Relative to the root: Prisma's client and codegen's output are nobody's to shorten.
const GENERATED_DIR = 'generated';
// A callee longer than this (a chain of calls) is named by its last property only.
const MAX_CALLEE_CHARS = 60;

const USAGE = 'usage: tsx scripts/function-length.ts [--max N] [--root DIR] [--json]';

function main(): number {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const files = listTypeScriptFiles(options.root);
  const measured = files.flatMap((file) => measureFile(file));
  const over = measured
    .filter((m) => m.lines > options.max)
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);

  if (options.json) {
    const report: FunctionLengthReport = { root: options.root, max: options.max, files: files.length, functions: measured.length, over };
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const m of over) console.log(`${m.file}:${m.line}  ${m.name}  ${m.lines} lines`);
    console.log(summary(options, files.length, measured, over));
  }
  return over.length > 0 ? 1 : 0;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      max: { type: 'string', default: '80' },
      root: { type: 'string', default: 'src' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const max = Number(values.max);
  if (!Number.isInteger(max) || max < 1) throw new Error(`--max must be a positive whole number, not ${values.max}`);
  if (!statSync(values.root, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`--root ${values.root} is not a directory`);
  return { max, root: values.root, json: values.json };
}

function summary(options: Options, files: number, measured: Measured[], over: Measured[]): string {
  const scanned = `${measured.length} functions in ${files} files under ${options.root}`;
  if (over.length > 0) return `${over.length} ${over.length === 1 ? 'function' : 'functions'} over ${options.max} lines (${scanned})`;
  const longest = measured.reduce<Measured | undefined>((a, m) => (a === undefined || m.lines > a.lines ? m : a), undefined);
  const detail = longest ? `; longest: ${longest.name}, ${longest.lines} lines, ${longest.file}:${longest.line}` : '';
  return `No function over ${options.max} lines (${scanned}${detail})`;
}

/** The .ts files under `root`, sorted, without `root/generated/` and declaration files. */
function listTypeScriptFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (path.relative(root, full) !== GENERATED_DIR) walk(full);
      } else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        files.push(full);
      }
    }
  };
  walk(root);
  return files.sort();
}

function measureFile(file: string): Measured[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const names = new Map<ts.Node, string>();
  const nameOf = (fn: FunctionWithBody): string => {
    let name = names.get(fn);
    if (name === undefined) {
      name = displayName(fn, nameOf);
      names.set(fn, name);
    }
    return name;
  };
  const measured: Measured[] = [];
  const visit = (node: ts.Node): void => {
    if (hasBody(node)) {
      // getStart skips leading comments and JSDoc; decorators and modifiers are counted.
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      measured.push({ file, line: first + 1, name: nameOf(node), lines: last - first + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return measured;
}

/** Function declarations and expressions, arrows, methods, constructors and accessors; overload signatures and abstract members have no body. */
function hasBody(node: ts.Node): node is FunctionWithBody {
  return (
    (ts.isFunctionDeclaration(node) ||
      ts.isFunctionExpression(node) ||
      ts.isArrowFunction(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isConstructorDeclaration(node) ||
      ts.isGetAccessorDeclaration(node) ||
      ts.isSetAccessorDeclaration(node)) &&
    node.body !== undefined
  );
}

/**
 * `outer › own`, where `outer` is the enclosing function's name: `createRunner › tick`,
 * `Runner.start`, `<arrow passed to server.on('close')>`, `<arrow in buildApp>`.
 */
function displayName(fn: FunctionWithBody, nameOf: (fn: FunctionWithBody) => string): string {
  const own = ownName(fn);
  let outer: string | undefined;
  for (let p = fn.parent; p !== undefined && !ts.isSourceFile(p); p = p.parent) {
    if (hasBody(p)) {
      outer = nameOf(p);
      break;
    }
  }
  const kind = ts.isArrowFunction(fn) ? 'arrow' : 'function';
  if (own === undefined) return outer === undefined ? `<${kind}>` : `<${kind} in ${outer}>`;
  return outer === undefined ? own : `${outer} › ${own}`;
}

/** The function's own name, or the name of what it is assigned or passed to; undefined when nothing names it. */
function ownName(fn: FunctionWithBody): string | undefined {
  if (ts.isConstructorDeclaration(fn)) return `${className(fn.parent)}.constructor`;
  if (ts.isMethodDeclaration(fn) || ts.isGetAccessorDeclaration(fn) || ts.isSetAccessorDeclaration(fn)) {
    const accessor = ts.isGetAccessorDeclaration(fn) ? ' (get)' : ts.isSetAccessorDeclaration(fn) ? ' (set)' : '';
    return `${memberPrefix(fn.parent)}${propertyName(fn.name)}${accessor}`;
  }
  if (ts.isFunctionDeclaration(fn)) return fn.name?.text ?? 'default';
  if (ts.isFunctionExpression(fn) && fn.name !== undefined) return fn.name.text;

  const outermost = skipWrappersUp(fn);
  const parent = outermost.parent;
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return `${memberPrefix(parent.parent)}${propertyName(parent.name)}`;
  if (ts.isExportAssignment(parent)) return 'default';
  if (ts.isBinaryExpression(parent) && parent.operatorToken.kind === ts.SyntaxKind.EqualsToken && parent.right === outermost) return expressionName(parent.left);
  if ((ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.arguments?.includes(outermost as ts.Expression)) {
    return `<${ts.isArrowFunction(fn) ? 'arrow' : 'function'} passed to ${calleeName(parent)}>`;
  }
  return undefined;
}

/**
 * `Runner.` for a class member; for an object literal, the properties it sits in and what holds
 * it: a variable (`resolvers.Query.`) or a call it is passed to (`builder.prismaObject('RefreshRun').`).
 */
function memberPrefix(container: ts.Node): string {
  if (ts.isClassLike(container)) return `${className(container)}.`;
  if (!ts.isObjectLiteralExpression(container)) return '';
  const parts: string[] = [];
  let object: ts.Node = container;
  for (;;) {
    object = skipWrappersUp(object);
    const parent = object.parent;
    if (ts.isPropertyAssignment(parent)) {
      parts.unshift(propertyName(parent.name));
      object = parent.parent;
    } else {
      if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) parts.unshift(parent.name.text);
      if ((ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.arguments?.includes(object as ts.Expression)) parts.unshift(calleeName(parent));
      break;
    }
  }
  return parts.map((p) => `${p}.`).join('');
}

function className(cls: ts.ClassLikeDeclaration): string {
  if (cls.name !== undefined) return cls.name.text;
  const parent = skipWrappersUp(cls).parent;
  return ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name) ? parent.name.text : '<class>';
}

function propertyName(name: ts.PropertyName): string {
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
  if (ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return oneLine(name.getText()); // computed: [Symbol.asyncDispose]
}

/** `server.on('close')`, `builder.objectType(RunRef)`, `new Promise`; a long chain is cut to its end: `….implement`. */
function calleeName(call: ts.CallExpression | ts.NewExpression): string {
  let callee = expressionName(call.expression);
  if (callee.length > MAX_CALLEE_CHARS) {
    callee = ts.isPropertyAccessExpression(call.expression) ? `….${call.expression.name.text}` : `${callee.slice(0, MAX_CALLEE_CHARS)}…`;
  }
  return ts.isNewExpression(call) ? `new ${callee}` : `${callee}${firstArgument(call)}`;
}

/** A callee or assignment target as written, without type arguments, casts or line breaks: `builder.objectRef('RefreshPlan').implement`. */
function expressionName(expression: ts.Expression): string {
  if (ts.isPropertyAccessExpression(expression)) return `${expressionName(expression.expression)}.${expression.name.text}`;
  if (ts.isParenthesizedExpression(expression) || ts.isAsExpression(expression) || ts.isSatisfiesExpression(expression) || ts.isNonNullExpression(expression)) {
    return expressionName(expression.expression);
  }
  if (ts.isCallExpression(expression)) return `${expressionName(expression.expression)}${firstArgument(expression) || (expression.arguments.length > 0 ? '(…)' : '()')}`;
  return oneLine(expression.getText());
}

/** `('end')` or `(RunRef)` when the first argument names what the call is about; '' otherwise. */
function firstArgument(call: ts.CallExpression): string {
  const first = call.arguments[0];
  if (first === undefined) return '';
  if (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first)) return `('${first.text}')`;
  return ts.isIdentifier(first) ? `(${first.text})` : '';
}

/** The outermost of `(fn)`, `fn as T`, `fn satisfies T`, `fn!` around a node, so its parent is what it is assigned or passed to. */
function skipWrappersUp(node: ts.Node): ts.Node {
  let current = node;
  while (
    ts.isParenthesizedExpression(current.parent) ||
    ts.isAsExpression(current.parent) ||
    ts.isSatisfiesExpression(current.parent) ||
    ts.isTypeAssertionExpression(current.parent) ||
    ts.isNonNullExpression(current.parent)
  ) {
    current = current.parent;
  }
  return current;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ');
}

process.exitCode = main();
