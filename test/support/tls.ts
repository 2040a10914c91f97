import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const openssl = (args: string[]) => promisify(execFile)('openssl', args);

/**
 * A self-signed certificate and its key: `<dir>/<base>.crt` and
 * `<dir>/<base>.key`, valid for a day; `subjectAltName` (e.g. "IP:127.0.0.1")
 * when the certificate must name the address it is dialled on.
 */
export async function selfSignedCert(
  dir: string,
  base: string,
  subject: string,
  subjectAltName?: string,
): Promise<string> {
  const crt = join(dir, `${base}.crt`);
  await openssl([
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', subject],
    ...(subjectAltName ? ['-addext', `subjectAltName=${subjectAltName}`] : []),
    ...['-keyout', join(dir, `${base}.key`), '-out', crt],
  ]);
  return crt;
}

/** A certificate for `dnsName` signed by the CA `<dir>/<ca>.crt`: `<dir>/<base>.crt` and `.key`. */
export async function signedCert(dir: string, base: string, ca: string, dnsName: string): Promise<string> {
  const o = (f: string) => join(dir, f);
  const crt = o(`${base}.crt`);
  await openssl([
    ...['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${base}`],
    ...['-keyout', o(`${base}.key`), '-out', o(`${base}.csr`)],
  ]);
  await writeFile(o(`${base}.ext`), `subjectAltName=DNS:${dnsName}\n`);
  await openssl([
    ...['x509', '-req', '-in', o(`${base}.csr`), '-CA', o(`${ca}.crt`), '-CAkey', o(`${ca}.key`)],
    ...['-CAcreateserial', '-out', crt, '-days', '1', '-extfile', o(`${base}.ext`)],
  ]);
  return crt;
}
