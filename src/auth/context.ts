// Builds each request's context: who is calling, from `Authorization: Bearer …` over HTTP or
// from graphql-ws `connectionParams` ({ authorization: 'Bearer …' } or { token: '…' }).
import type { Config } from '../config.ts';
import type { Context } from '../schema/builder.ts';
import { bearerToken, findToken, grantedScopes } from './tokens.ts';

export function contextFor(auth: Config['auth'], presented: string | null): Context {
  if (presented === null) {
    return { principal: { name: null, scopes: grantedScopes(auth.anonymous === 'read' ? 'read' : null) } };
  }
  const token = findToken(auth.tokens, presented);
  // A wrong or revoked token gets nothing, even where anonymous reads are allowed: the caller
  // meant to be someone, and should learn at once that it is not.
  if (!token) return { principal: { name: null, scopes: new Set() }, invalidToken: true };
  return { principal: { name: token.name, scopes: grantedScopes(token.scope) } };
}

/** The token an HTTP request presents, if any. */
export function tokenFromHeaders(headers: Headers): string | null {
  return bearerToken(headers.get('authorization'));
}

/** The token a graphql-ws client presents in its connection_init payload, if any. */
export function tokenFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | null {
  if (!params) return null;
  const auth = params.authorization ?? params.Authorization;
  if (typeof auth === 'string') return bearerToken(auth) ?? auth.trim();
  return typeof params.token === 'string' ? params.token : null;
}
