// Builds each request's context: who is calling, from `Authorization: Bearer <token>` over HTTP
// or from graphql-ws `connectionParams: { authorization: 'Bearer <token>' }` — one form for both
// transports. A value of any other form (a raw token, another scheme) is refused as invalid
// rather than ignored: ignoring it would silently make the caller anonymous.
import type { Config } from '../config.ts';
import type { Context } from '../schema/builder.ts';
import { bearerToken, findToken, grantedScopes } from './tokens.ts';

/** What a caller presented: nothing, a bearer token, or an authorization of another form. */
type Presented = { token: string } | { malformed: true } | null;

const MALFORMED_REASON = 'the authorization is not of the form "Bearer <token>"';
const INVALID_REASON = 'the token is not valid (unknown or revoked)';

/** Who a caller is: the part of the context that auth decides. */
export type CallerContext = Pick<Context, 'principal' | 'invalidToken'>;

/** The caller part of the context of whoever presented `presented`. */
export function contextFor(auth: Config['auth'], presented: Presented): CallerContext {
  if (presented === null) {
    return { principal: { name: null, scopes: grantedScopes(auth.anonymous === 'read' ? 'read' : null) } };
  }
  // A wrong or revoked token gets nothing, even where anonymous reads are allowed: the caller
  // meant to be someone, and should learn at once that it is not.
  if ('malformed' in presented) return { principal: { name: null, scopes: grantedScopes(null) }, invalidToken: MALFORMED_REASON };
  const token = findToken(auth.tokens, presented.token);
  if (!token) return { principal: { name: null, scopes: grantedScopes(null) }, invalidToken: INVALID_REASON };
  return { principal: { name: token.name, scopes: grantedScopes(token.scope) } };
}

function presentedAuthorization(value: unknown): Presented {
  if (value === undefined || value === null || value === '') return null;
  const token = typeof value === 'string' ? bearerToken(value) : null;
  return token ? { token } : { malformed: true };
}

/** What an HTTP request presents in its Authorization header. */
export function tokenFromHeaders(headers: Headers): Presented {
  return presentedAuthorization(headers.get('authorization'));
}

/** What a graphql-ws client presents in its connection_init payload (`authorization`). */
export function tokenFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): Presented {
  if (!params) return null;
  // A `token` key was once accepted; say so plainly instead of treating the caller as anonymous.
  if (params.authorization === undefined && params.Authorization === undefined && params.token !== undefined) return { malformed: true };
  return presentedAuthorization(params.authorization ?? params.Authorization);
}
