// Which role a `postgres` source query runs as. The query is written by whoever may edit
// custom_sync_params, and it runs on a connection the service holds; when that connection's
// user is a superuser (the embedded default, most development machines) or may read, write or
// execute on the server (pg_read_server_files, pg_write_server_files,
// pg_execute_server_program), `SELECT pg_read_file('/etc/passwd') AS v` would load a server
// file into a table. So the rule, applied inside the source's READ ONLY transaction:
//   - a privileged connection user (a superuser, a member of a superuser role, or of one of
//     the three roles above) ALWAYS runs the query as the source role (`SET LOCAL ROLE`); a
//     source role missing from that database fails the run (not retryable) saying how to
//     create it;
//   - an ordinary user runs it as the source role only when POSTGRES_SOURCE_ROLE was set
//     explicitly, else as itself (it can reach nothing a superuser-only function would).
// A limit PostgreSQL sets, not this code: while the LOGIN is a superuser, a query can switch
// back itself (`set_config('role', …)` is allowed to any role whose session user may become
// the target). SET ROLE stops a query that calls superuser-only functions, not an author set
// on escaping; for that boundary, give sources a login of their own that is no superuser
// (SOURCE_DATABASE_URL_…, README "Operating").
import type pg from 'pg';
import { quoteIdent } from '../../engine/catalog.ts';
import { SourceError } from '../source.ts';

/** The role source queries run as (POSTGRES_SOURCE_ROLE), and whether it was set explicitly. */
export interface SourceRole {
  name: string;
  /** Set by the operator: an ordinary connection user switches to it too. */
  explicit: boolean;
}

/** The source role when POSTGRES_SOURCE_ROLE is not set. */
export const DEFAULT_SOURCE_ROLE: SourceRole = { name: 'sqp_refresh_source', explicit: false };

// Privileged: the session user (the LOGIN, not a role it switched to, since a query could
// switch back) is or may become a superuser, or is a member of a role that reaches the
// server's files or programs. pg_has_role(…, 'MEMBER') follows memberships whatever their
// INHERIT and SET options, and is true for every role when the user is a superuser.
const INSPECT = `
  SELECT session_user::text AS login, quote_ident(session_user) AS login_sql, quote_ident($1) AS role_sql,
         EXISTS (SELECT FROM pg_roles s WHERE s.rolsuper AND pg_has_role(session_user, s.oid, 'MEMBER'))
           OR pg_has_role(session_user, 'pg_read_server_files', 'MEMBER')
           OR pg_has_role(session_user, 'pg_write_server_files', 'MEMBER')
           OR pg_has_role(session_user, 'pg_execute_server_program', 'MEMBER') AS privileged,
         EXISTS (SELECT FROM pg_roles WHERE rolname = $1) AS role_exists`;

/** How to create the source role (`role`: as SQL, quoted where needed), for a failed run's message. */
function createRoleAdvice(role: string): string {
  return `CREATE ROLE ${role} NOLOGIN; GRANT USAGE ON SCHEMA <schema> TO ${role}; GRANT SELECT ON <schema>.<table> TO ${role}; ` +
    '(each schema and table the source queries read)';
}

/**
 * Applies the rule above in the open transaction of `client` (before the source query runs):
 * `SET LOCAL ROLE` to the source role where the rule asks for it. Returns the role the query
 * runs as.
 */
export async function assumeSourceRole(client: pg.ClientBase, role: SourceRole): Promise<string> {
  const { rows: [me] } = await client.query<{ login: string; login_sql: string; role_sql: string; privileged: boolean; role_exists: boolean }>({
    text: INSPECT,
    values: [role.name],
  });
  if (!me!.privileged && !role.explicit) return me!.login;
  const why = me!.privileged
    ? `the source connection's user ${me!.login} is a superuser or may reach the server's files, so source queries run as role ${role.name}`
    : `POSTGRES_SOURCE_ROLE asks source queries to run as role ${role.name}`;
  if (!me!.role_exists) {
    throw new SourceError(`postgres source: ${why}, which does not exist on this server; create it: ${createRoleAdvice(me!.role_sql)}`, {
      reason: 'sourceRole',
      retryable: false,
      role: role.name,
    });
  }
  try {
    await client.query(`SET LOCAL ROLE ${quoteIdent(role.name)}`);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    // 42501: an ordinary user that is not a member of the role it was told to use.
    if (e.code !== '42501') throw error;
    throw new SourceError(`postgres source: ${why}, but ${me!.login} may not SET ROLE to it: GRANT ${me!.role_sql} TO ${me!.login_sql};`, {
      code: e.code,
      reason: 'sourceRole',
      retryable: false,
      role: role.name,
    });
  }
  return role.name;
}
