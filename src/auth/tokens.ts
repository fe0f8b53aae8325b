// Bearer tokens: the operator lists them in API_TOKENS as `name:scope:sha256hex` entries, so
// only hashes of tokens are ever stored. Scopes nest: admin ⊃ operate ⊃ read.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCOPES = ['read', 'operate', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiToken {
  name: string;
  scope: Scope;
  /** SHA-256 of the token, 32 bytes. */
  hash: Buffer;
}

/** Who is calling: a named token with its scope, or anonymous with what the operator allows. */
export interface Principal {
  name: string | null;
  scopes: ReadonlySet<Scope>;
}

const TOKEN_PREFIX = 'sqpr_';

/** One frozen set per scope: every caller's principal shares it (10,000 subscribers hold one, not 10,000). */
const GRANTED = new Map<Scope | null, ReadonlySet<Scope>>();

/** The scopes a scope grants (admin implies operate implies read); read-only, shared. */
export function grantedScopes(scope: Scope | null): ReadonlySet<Scope> {
  let granted = GRANTED.get(scope);
  if (!granted) GRANTED.set(scope, (granted = Object.freeze(new Set(scope ? SCOPES.slice(0, SCOPES.indexOf(scope) + 1) : []))));
  return granted;
}

function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token and the API_TOKENS entry that holds its hash. */
export function createToken(name: string, scope: Scope): { token: string; entry: string } {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new Error('name: use 1-64 letters, digits, ".", "_" or "-"');
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, entry: `${name}:${scope}:${hashToken(token)}` };
}

/** Parses API_TOKENS; returns every problem at once (never echoing a hash back). */
export function parseApiTokens(raw: string | undefined): { tokens: ApiToken[]; problems: string[] } {
  const tokens: ApiToken[] = [];
  const problems: string[] = [];
  const entries = (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const [name, scope, hex, ...rest] = entry.split(':');
    const where = `API_TOKENS entry ${i + 1}${name ? ` (${name})` : ''}`;
    if (rest.length || !name || !scope || !hex) problems.push(`${where}: expected name:scope:sha256hex`);
    else if (!(SCOPES as readonly string[]).includes(scope)) problems.push(`${where}: scope must be one of ${SCOPES.join(', ')}`);
    else if (!/^[0-9a-f]{64}$/i.test(hex)) problems.push(`${where}: the hash must be 64 hex digits (the SHA-256 of the token)`);
    else if (tokens.some((t) => t.name === name)) problems.push(`${where}: the name is used twice`);
    else tokens.push({ name, scope: scope as Scope, hash: Buffer.from(hex, 'hex') });
  });
  return { tokens, problems };
}

/** The token that matches a presented secret, compared in constant time; null when none does. */
export function findToken(tokens: readonly ApiToken[], presented: string): ApiToken | null {
  const hash = createHash('sha256').update(presented, 'utf8').digest();
  let found: ApiToken | null = null;
  for (const t of tokens) if (timingSafeEqual(t.hash, hash)) found = t;
  return found;
}

/** The token of `Bearer <token>` (scheme case-insensitive); null for any other form. */
export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
