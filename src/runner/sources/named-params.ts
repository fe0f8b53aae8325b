// Named query parameters (@name), as BigQuery writes them, for PostgreSQL queries too: each
// distinct @name becomes $n and its value a bind parameter. Quoted strings, quoted
// identifiers and comments are left alone, so '@' inside them is never a parameter.

const TOKEN = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|@([A-Za-z_][A-Za-z0-9_]*)/g;

/** Rewrites @name to $n and returns the bind values in order; an unknown name throws. */
export function bindNamedParams(
  sql: string,
  params: Record<string, unknown>,
  firstIndex = 1,
): { text: string; values: unknown[] } {
  const order: string[] = [];
  const text = sql.replace(TOKEN, (match, name: string | undefined) => {
    if (!name) return match;
    if (!(name in params)) throw new Error(`query parameter @${name} has no value`);
    let i = order.indexOf(name);
    if (i < 0) i = order.push(name) - 1;
    return `$${i + firstIndex}`;
  });
  return { text, values: order.map((n) => params[n]) };
}
