// `sqp-refresh token create --scope read|operate|admin [--name NAME]`: a new API token. Needs
// no database: the service knows tokens only by the hashes listed in API_TOKENS.
import { createToken, SCOPES, type Scope } from '../auth/tokens.ts';
import { EXIT, parseCommandArgs, UsageError, type Command } from './command.ts';

const help = `Usage: sqp-refresh token create --scope read|operate|admin [--name NAME]

Creates a random API token and prints it once, with the API_TOKENS entry that holds its
SHA-256 hash. Only the entry goes into the service's environment (comma-separated with the
existing entries); the token itself goes to the client, as "Authorization: Bearer <token>".

Options:
  --scope SCOPE  read, operate or admin (required); scopes nest: admin includes operate,
                 operate includes read
  --name NAME    the entry's name, 1-64 of A-Z a-z 0-9 . _ - (default: SCOPE-YYYYMMDD-HHMMSS)
  -h, --help     show this help

Exit code: 0, or 2 for a usage mistake.`;

function defaultName(scope: Scope, now: Date): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
  return `${scope}-${stamp}`;
}

export const tokenCommand: Command = {
  name: 'token',
  synopsis: 'token create --scope SCOPE [--name NAME]',
  summary: 'A new API token (read, operate or admin)',
  help,
  async run(args) {
    const { values, positionals } = parseCommandArgs(args, { scope: { type: 'string' }, name: { type: 'string' } }, help);
    const [action, ...extra] = positionals;
    if (action !== 'create') throw new UsageError(action ? `token: unknown action ${action}` : 'token: expected an action (create)', help);
    if (extra.length) throw new UsageError(`token create: unexpected argument ${extra[0]}`, help);
    const scope = values.scope;
    if (!scope || !(SCOPES as readonly string[]).includes(scope)) {
      throw new UsageError(`token create: --scope must be one of ${SCOPES.join(', ')}`, help);
    }
    let created: { token: string; entry: string };
    try {
      created = createToken(values.name ?? defaultName(scope as Scope, new Date()), scope as Scope);
    } catch (error) {
      // createToken refuses a malformed name with "name: …"; anything else is not a usage mistake.
      if (!(error as Error).message.startsWith('name:')) throw error;
      throw new UsageError(`token create: --${(error as Error).message}`, help);
    }
    console.log(`Token (shown only now; give it to the client as "Authorization: Bearer <token>"):
  ${created.token}

API_TOKENS entry (only this goes into the service's environment: it holds the token's hash, not the token):
  ${created.entry}`);
    return EXIT.ok;
  },
};
