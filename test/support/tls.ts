// Certificates for TLS tests, made with the `openssl` CLI in a temp dir: a CA, a server
// certificate it signs for `localhost` and 127.0.0.1 (subjectAltName, as verify-full checks),
// and a second, unrelated CA that signs nothing here ("the wrong CA": a client that trusts only
// it must refuse the server). EC P-256 keys: quick to make, accepted by Node, OpenSSL and
// PgBouncer alike. Valid for two days; nothing here is a secret worth keeping.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** The temp dir holding every file below. */
  dir: string;
  /** PEM of the CA that signed the server certificate (give it as sslrootcert). */
  caFile: string;
  /** PEM of the server certificate (SAN: DNS localhost, IP 127.0.0.1) and its key. */
  certFile: string;
  keyFile: string;
  /** PEM of a CA that did not sign the server certificate. */
  wrongCaFile: string;
  /** Removes the temp dir. */
  remove(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run('openssl', args, { cwd: dir });
  } catch (error) {
    const e = error as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A self-signed CA: `name.key`, `name.crt`. */
async function makeCa(dir: string, name: string, commonName: string): Promise<void> {
  await openssl(dir, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** Makes a CA, a server certificate for localhost/127.0.0.1 signed by it, and an unrelated CA. */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sqp-refresh-tls-'));
  try {
    await makeCa(dir, 'ca', 'sqp-refresh test CA');
    await makeCa(dir, 'wrong-ca', 'sqp-refresh unrelated CA');
    await openssl(dir, [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost',
    ]);
    // `openssl x509 -req` copies no extensions from the request: they come from this file.
    await writeFile(
      path.join(dir, 'server.ext'),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
        'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
    );
    await openssl(dir, [
      'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext',
    ]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    certFile: path.join(dir, 'server.crt'),
    keyFile: path.join(dir, 'server.key'),
    wrongCaFile: path.join(dir, 'wrong-ca.crt'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
